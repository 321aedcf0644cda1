"""SimCLR = backbone + projection head; loss, head and transform from lightly."""
from __future__ import annotations

import torch
from lightly.models.modules import SimCLRProjectionHead
from lightly.transforms import SimCLRTransform
from torch import nn

from model.backbone import FaceBackbone
from model.preprocess import MEAN, STD


class SimCLR(nn.Module):
    def __init__(self, backbone: FaceBackbone, projection_dim: int = 128) -> None:
        super().__init__()
        self.backbone = backbone
        dim = backbone.config.embedding_dim
        self.projection_head = SimCLRProjectionHead(dim, 512, projection_dim)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.projection_head(self.backbone(images))


def face_transform(input_size: int) -> SimCLRTransform:
    """Augmentations for aligned faces: mild crops (the face stays in view), horizontal
    flip only, colour jitter, grayscale, blur; no vertical flip or rotation."""
    return SimCLRTransform(
        input_size=input_size,
        min_scale=0.5,
        cj_strength=0.5,
        random_gray_scale=0.2,
        gaussian_blur=0.3,
        sigmas=(0.1, 1.5),
        vf_prob=0.0,
        hf_prob=0.5,
        rr_prob=0.0,
        normalize={"mean": [MEAN] * 3, "std": [STD] * 3},
    )
