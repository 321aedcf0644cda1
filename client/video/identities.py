"""Who a face is, from its embedding: by the gallery (1:N) or against one reference photo (1:1)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ..client import FaceClient
from ..errors import FaceClientError
from ..models import EmbeddingResult
from ..photos import PhotoLike

MATCH = "match"  # the name a face gets in reference mode when it is the reference person


@dataclass(frozen=True)
class Look:
    """One look-up of one face: its name (None: unknown / no match) and the best score."""

    name: str | None
    score: float | None


class Identifier(Protocol):
    unknown: str

    def names(self, answer: EmbeddingResult) -> list[Look]:
        """One Look per face of the answer, in its order."""


class GalleryIdentifier:
    """Names from the gallery's search (its threshold sized to the gallery)."""

    unknown = "unknown"  # what a face without a name is shown as

    def __init__(self, gallery) -> None:
        self.gallery = gallery

    def names(self, answer: EmbeddingResult) -> list[Look]:
        found = self.gallery.search(answer, top_k=1)
        return [Look(face.identity, face.score) for face in found.faces]


class ReferenceIdentifier:
    """`match` for a face of the reference photo's person (score >= the served threshold, or
    `threshold`), None otherwise."""

    unknown = "no match"

    def __init__(self, client: FaceClient, reference: PhotoLike, threshold: float | None = None) -> None:
        answer = client.embed(reference)
        if not answer.faces:
            raise FaceClientError("no face found in the reference photo", code="no_face_in_reference")
        self.embedding = answer.faces[0].embedding  # the largest face is the person
        served = threshold if threshold is not None else answer.threshold
        if served is None:
            raise FaceClientError("the server does not send its threshold; give one", code="no_threshold")
        self.threshold: float = served

    def names(self, answer: EmbeddingResult) -> list[Look]:
        looks = []
        for face in answer.faces:
            score = round(sum(a * b for a, b in zip(face.embedding, self.embedding, strict=False)), 6)
            looks.append(Look(MATCH if score >= self.threshold else None, score))
        return looks
