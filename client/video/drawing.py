"""Tracked faces drawn on a frame with the project's face boxes (`client/drawing.py`): green a
name (or a match), red unknown (no match), grey while the track's votes do not agree yet."""
from __future__ import annotations

from ..drawing import FaceKind, FaceMark, draw_faces
from .tracking import TrackedFace

PENDING_TEXT = "..."


def caption(face: TrackedFace, unknown: str) -> str:
    label = face.label
    if not label.agreed:
        return f"#{face.track} {PENDING_TEXT}"
    score = "" if label.score is None else f" {label.score:.2f}"
    return f"#{face.track} {label.name or unknown}{score}"


def mark(face: TrackedFace, unknown: str) -> FaceMark:
    kind = FaceKind.PENDING if not face.label.agreed else FaceKind.MATCH if face.label.name else FaceKind.NO_MATCH
    return FaceMark(face.box, kind, caption(face, unknown))


def draw(frame, faces: list[TrackedFace], unknown: str = "unknown"):
    """The frame (HxWx3 RGB array) as a PIL image with each face boxed and captioned."""
    from PIL import Image

    return draw_faces(Image.fromarray(frame), [mark(face, unknown) for face in faces])
