"""The `torch` engine of model.onnx_embedder.engine_embedder: the same network with every
BatchNorm folded into the layer before it, as a drop-in for FaceEmbedder (same
`.embed(crops)`, same `.backbone.config`).

Folding (torch.fx: conv -> batch norm becomes one conv with adjusted weights and bias) is the
same arithmetic up to float rounding (|difference| ~1e-6 on unit-length embeddings), so the
weights file, the threshold and the accuracy stay the same; it saves the separate
batch-norm passes (measured by `make bench`, reports/bench.json). Built once when the handler
initialises: no per-request model work.
"""
from __future__ import annotations

import copy

import torch
from torch import nn

from model.backbone import FaceBackbone
from model.embedder import FaceEmbedder


class FusedBackbone(nn.Module):
    """`backbone` with conv+BN (and linear+BN1d) pairs folded; eval mode only."""

    def __init__(self, backbone: FaceBackbone) -> None:
        super().__init__()
        from torch.fx.experimental.optimization import fuse

        self.config = backbone.config
        self.net = fuse(copy.deepcopy(backbone).eval())  # the caller's module is untouched
        self.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


def fused_embedder(backbone: FaceBackbone, flip: bool = True, batch_size: int = 64) -> FaceEmbedder:
    """FaceEmbedder(backbone, flip, batch_size) with the folded network; falls back to the
    plain backbone if folding fails (an architecture torch.fx cannot trace)."""
    try:
        network: nn.Module = FusedBackbone(backbone)
    except Exception:  # pragma: no cover - only for future architectures
        network = backbone
    return FaceEmbedder(network, flip=flip, batch_size=batch_size)
