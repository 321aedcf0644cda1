"""Load committed weights and turn aligned crops into L2-normalised embeddings."""
from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
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


_DATED = re.compile(r"-\d{8}$")  # the run's day, which named versions before content hashes


def content_version(prefix: str, state_dict: Mapping[str, torch.Tensor]) -> str:
    """`<prefix>-<8 hex>`: the version names the weights themselves, so identical tensors get
    the same version whatever day they were trained or exported. sha256 over every tensor's
    name, dtype, shape and bytes, by name."""
    digest = hashlib.sha256()
    for name in sorted(state_dict):
        tensor = state_dict[name].detach().cpu().contiguous()
        digest.update(f"{name}\0{tensor.dtype}\0{tuple(tensor.shape)}\0".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return f"{prefix}-{digest.hexdigest()[:8]}"


def version_prefix(meta: Mapping) -> str:
    """The readable part of the version: export's `version_prefix`; for older checkpoints their
    stored version without its trailing `-YYYYMMDD`."""
    return str(meta.get("version_prefix") or _DATED.sub("", str(meta.get("version", "unknown"))))


@dataclass(frozen=True)
class ModelFacts:
    """What a weights file says about using it, beside its config (input size, embedding size):
    the one reader of its meta for the server, the evaluation, the bench and the pages."""

    version: str  # content_version of the tensors: what the server, the reports and the galleries name
    flip: bool  # flip fusion: the embeddings the threshold was fitted on
    fitted_threshold: float | None  # the rule's exact value (client.far), None: not calibrated
    threshold_far: float | None  # the false-match rate it was fitted for
    far_thresholds: list[dict] | None  # [{"far", "threshold"}]: 4 decimals, rounded up
    # earlier names of these same weights (a dated version stored in the meta): galleries
    # enrolled under one of them stay valid
    aliases: tuple[str, ...] = ()

    @classmethod
    def of(cls, meta: dict, state_dict: Mapping[str, torch.Tensor]) -> ModelFacts:
        threshold = meta.get("threshold")
        version = content_version(version_prefix(meta), state_dict)
        stored = meta.get("version")
        return cls(version, bool(meta.get("flip", True)), None if threshold is None else float(threshold),
                   meta.get("threshold_far"), meta.get("far_thresholds"),
                   aliases=(str(stored),) if stored is not None and str(stored) != version else ())

    @property
    def threshold(self) -> float:
        """The served threshold: the FAR table's row for `threshold_far` (4 decimals, rounded up
        so that it accepts no more impostors than the fitted one), else the fitted value."""
        rows = [r["threshold"] for r in self.far_thresholds or [] if r["far"] == self.threshold_far]
        if rows:
            return float(rows[0])
        if self.fitted_threshold is None:
            raise ValueError("these weights carry no calibrated threshold (make finetune stores one)")
        return self.fitted_threshold


def load_backbone(path: str | Path) -> tuple[FaceBackbone, dict]:
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    backbone = FaceBackbone(BackboneConfig(**checkpoint["config"]))
    backbone.load_state_dict(checkpoint["state_dict"])
    return backbone.eval(), checkpoint.get("meta", {})


Network = Callable[[torch.Tensor], torch.Tensor]  # N x 3 x H x W network input -> N x D features


class Embedder:
    """Aligned crops -> L2-normalised embeddings through `network`, `batch_size` crops per call.
    Horizontal-flip fusion adds each crop's features to its mirror image's (in the same call)
    before normalising. The one batch loop of every engine (torch here, OpenVINO / ONNX
    Runtime in model.onnx_embedder)."""

    def __init__(self, network: Network, embedding_dim: int, flip: bool = True, batch_size: int = 64) -> None:
        self.network = network
        self.embedding_dim = embedding_dim
        self.flip = flip
        self.batch_size = batch_size

    @torch.inference_mode()
    def embed_tensor(self, images: torch.Tensor) -> torch.Tensor:
        outputs = []
        for start in range(0, len(images), self.batch_size):
            batch = images[start : start + self.batch_size]
            if self.flip:
                both = self.network(torch.cat([batch, batch.flip(3)]))
                features = both[: len(batch)] + both[len(batch) :]
            else:
                features = self.network(batch)
            outputs.append(F.normalize(features, dim=1))
        if not outputs:
            return torch.empty(0, self.embedding_dim)
        return torch.cat(outputs)

    def embed(self, crops: Sequence[np.ndarray] | np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.empty((0, self.embedding_dim), dtype=np.float32)
        return self.embed_tensor(crops_to_tensor(crops)).numpy()


class FaceEmbedder(Embedder):
    """The torch network itself (evaluation, training, the `torch` engine)."""

    def __init__(self, backbone: FaceBackbone, flip: bool = True, batch_size: int = 64) -> None:
        # channels_last: about twice as fast for these conv stacks on CPU (same arithmetic)
        self.backbone = backbone.eval().to(memory_format=torch.channels_last)
        super().__init__(self._features, backbone.config.embedding_dim, flip, batch_size)

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone(images.contiguous(memory_format=torch.channels_last))

    @classmethod
    def from_checkpoint(cls, path: str | Path, **kwargs) -> FaceEmbedder:
        backbone, _ = load_backbone(path)
        return cls(backbone, **kwargs)
