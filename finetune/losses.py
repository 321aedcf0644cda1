"""Classification heads on the embedding: ArcFace (additive angular margin) and plain softmax."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ArcFace(nn.Module):
    """logits = s * cos(theta + m) for the target class, s * cos(theta) for the others.

    `margin` is a plain attribute so training can warm it up from 0 (with m = 0 this is
    scaled, normalised softmax). cos(theta + m) is expanded as cos*cos(m) - sin*sin(m) with
    sin clamped away from 0, so gradients stay finite at cos = +-1 (acos would not)."""

    def __init__(self, embedding_dim: int, classes: int, scale: float = 16.0, margin: float = 0.25) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(classes, embedding_dim))
        nn.init.normal_(self.weight, std=0.01)
        self.scale, self.margin = scale, margin

    def logits(self, embeddings: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        cosine = F.linear(F.normalize(embeddings), F.normalize(self.weight)).clamp(-1, 1)
        target = cosine.gather(1, labels[:, None])
        sine = (1 - target.square()).clamp_min(1e-6).sqrt()
        with_margin = target * torch.cos(torch.tensor(self.margin)) - sine * torch.sin(torch.tensor(self.margin))
        # Past theta = pi - m, cos(theta + m) stops decreasing; use the usual linear fallback.
        threshold = torch.cos(torch.tensor(torch.pi - self.margin))
        with_margin = torch.where(target > threshold, with_margin,
                                  target - self.margin * torch.sin(torch.tensor(self.margin)))
        return self.scale * cosine.scatter(1, labels[:, None], with_margin)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.logits(embeddings, labels)
        return F.cross_entropy(logits, labels), logits


class SoftmaxHead(nn.Module):
    """The comparison: a linear classifier with bias and ordinary cross-entropy."""

    def __init__(self, embedding_dim: int, classes: int) -> None:
        super().__init__()
        self.fc = nn.Linear(embedding_dim, classes)

    def forward(self, embeddings: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.fc(embeddings)
        return F.cross_entropy(logits, labels), logits


def build_head(name: str, embedding_dim: int, classes: int, scale: float, margin: float) -> nn.Module:
    if name == "arcface":
        return ArcFace(embedding_dim, classes, scale, margin)
    if name == "softmax":
        return SoftmaxHead(embedding_dim, classes)
    raise ValueError(f"unknown head {name!r}")
