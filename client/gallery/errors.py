"""Gallery errors: part of the client's one hierarchy (client.errors.FaceClientError)."""
from __future__ import annotations

from ..errors import FaceClientError


class GalleryError(FaceClientError):
    """The gallery cannot do what was asked (bad name, store unusable, no threshold)."""


class ModelMismatchError(GalleryError):
    """The gallery holds embeddings of another model version than the one the server runs
    now. Embeddings of two versions are never compared; `.stale` maps each person
    concerned to the model version their photos were enrolled with."""

    def __init__(self, message: str, *, stale: dict[str, str], current: str) -> None:
        super().__init__(message, code="model_mismatch")
        self.stale = stale
        self.current = current
