"""Face embedding networks, chosen by `BackboneConfig.name`.

- `mobilenet_v3_small`: MobileNetV3-small features (torchvision, random init), sized for
  training from scratch on 2 CPU cores. Its 576x4x4 map is flattened into a linear embedding
  instead of average pooling (faces are not translation invariant): insightface's "E" output
  layer, BN-dropout-FC-BN.
- `sface`: OpenCV's SFace network (`model.sface`), which ships pretrained; its weights come
  from `model.sface_convert`. Its embedding size and input size are fixed by those weights.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn
from torchvision.models import mobilenet_v3_small

from model import sface

ARCHITECTURES = ("mobilenet_v3_small", "sface")


@dataclass(frozen=True)
class BackboneConfig:
    name: str = "mobilenet_v3_small"
    embedding_dim: int = 256
    input_size: int = 112
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.name not in ARCHITECTURES:
            raise ValueError(f"unknown backbone {self.name!r}; known: {', '.join(ARCHITECTURES)}")
        if self.name == "sface" and (self.embedding_dim, self.input_size) != (sface.EMBEDDING_DIM, sface.INPUT_SIZE):
            raise ValueError(f"sface has embedding_dim {sface.EMBEDDING_DIM} and input_size {sface.INPUT_SIZE}")

    @classmethod
    def for_arch(cls, name: str, embedding_dim: int = 256, input_size: int = 112,
                 dropout: float = 0.0) -> BackboneConfig:
        """The config of `name`; embedding_dim / input_size apply where the architecture is free."""
        if name == "sface":
            return cls(name, sface.EMBEDDING_DIM, sface.INPUT_SIZE, dropout)
        return cls(name, embedding_dim, input_size, dropout)

    def to_dict(self) -> dict:
        return asdict(self)


class FaceBackbone(nn.Module):
    """`features` (a stack of blocks, earliest first: training may freeze a prefix) and
    `output` (the embedding layer)."""

    def __init__(self, config: BackboneConfig = BackboneConfig()) -> None:
        super().__init__()
        self.config = config
        if config.name == "sface":
            self.features = sface.sface_features()
            self.output = sface.sface_output(config.dropout)
            return
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
