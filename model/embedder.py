"""Load committed weights and turn aligned crops into L2-normalised embeddings."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from model.backbone import BackboneConfig, FaceBackbone
from model.preprocess import crops_to_tensor


def save_checkpoint(path: str | Path, backbone: FaceBackbone, **meta) -> None:
    """The serving/evaluation format: architecture, weights and free-form metadata."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": backbone.config.to_dict(), "state_dict": backbone.state_dict(),
                "meta": meta}, path)


def load_backbone(path: str | Path) -> tuple[FaceBackbone, dict]:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    backbone = FaceBackbone(BackboneConfig(**checkpoint["config"]))
    backbone.load_state_dict(checkpoint["state_dict"])
    return backbone.eval(), checkpoint.get("meta", {})


class FaceEmbedder:
    """Embeds aligned crops in batches; horizontal-flip fusion adds the mirrored crop's
    embedding before normalising (a cheap, standard accuracy gain)."""

    def __init__(self, backbone: FaceBackbone, flip: bool = True, batch_size: int = 64) -> None:
        # channels_last: about twice as fast for these conv stacks on CPU (same arithmetic)
        self.backbone = backbone.eval().to(memory_format=torch.channels_last)
        self.flip = flip
        self.batch_size = batch_size

    @classmethod
    def from_checkpoint(cls, path: str | Path, **kwargs) -> "FaceEmbedder":
        backbone, _ = load_backbone(path)
        return cls(backbone, **kwargs)

    @torch.inference_mode()
    def embed_tensor(self, images: torch.Tensor) -> torch.Tensor:
        outputs = []
        for start in range(0, len(images), self.batch_size):
            batch = images[start : start + self.batch_size].contiguous(memory_format=torch.channels_last)
            if self.flip:
                both = self.backbone(torch.cat([batch, batch.flip(3)]))
                features = both[: len(batch)] + both[len(batch) :]
            else:
                features = self.backbone(batch)
            outputs.append(F.normalize(features, dim=1))
        if not outputs:
            return torch.empty(0, self.backbone.config.embedding_dim)
        return torch.cat(outputs)

    def embed(self, crops: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.empty((0, self.backbone.config.embedding_dim), dtype=np.float32)
        return self.embed_tensor(crops_to_tensor(crops)).numpy()
