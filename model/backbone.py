"""Face embedding network sized for 2 CPU cores.

MobileNetV3-small features (torchvision, random init) on a 112x112 aligned face give a
576x4x4 map; faces are not translation invariant, so instead of average pooling the map is
flattened into a linear embedding (insightface's "E" output layer: BN-dropout-FC-BN).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torchvision.models import mobilenet_v3_small


@dataclass(frozen=True)
class BackboneConfig:
    name: str = "mobilenet_v3_small"
    embedding_dim: int = 256
    input_size: int = 112
    dropout: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


class FaceBackbone(nn.Module):
    def __init__(self, config: BackboneConfig = BackboneConfig()) -> None:
        super().__init__()
        if config.name != "mobilenet_v3_small":
            raise ValueError(f"unknown backbone {config.name!r}")
        self.config = config
        self.features = mobilenet_v3_small(weights=None).features  # stride 32
        channels = 576
        side = -(-config.input_size // 32)
        self.output = nn.Sequential(
            nn.BatchNorm2d(channels),
            nn.Dropout(config.dropout),
            nn.Flatten(),
            nn.Linear(channels * side * side, config.embedding_dim),
            nn.BatchNorm1d(config.embedding_dim),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Un-normalised embeddings; callers L2-normalise for cosine similarity."""
        return self.output(self.features(images))
