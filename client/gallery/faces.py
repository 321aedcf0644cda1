"""Which face of a photo is the person being enrolled."""
from __future__ import annotations

from collections.abc import Sequence

from ..models import EmbeddedFace

# A second face at least this share of the largest one's area makes the photo ambiguous:
# it is not clear whose photo it is.
SIMILAR_AREA = 0.5


class FaceChoiceError(ValueError):
    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def area(face: EmbeddedFace) -> float:
    return max(face.box[2], 0.0) * max(face.box[3], 0.0)


def enrolment_face(faces: Sequence[EmbeddedFace], similar_area: float = SIMILAR_AREA) -> EmbeddedFace:
    """The photo's largest face, unless there is none or another face is nearly as large."""
    if not faces:
        raise FaceChoiceError("no_face", "no face found in the photo")
    ranked = sorted(faces, key=area, reverse=True)
    if len(ranked) > 1 and area(ranked[1]) >= similar_area * area(ranked[0]):
        raise FaceChoiceError(
            "several_faces",
            f"{len(ranked)} faces, the two largest of similar size ({area(ranked[1]):.0f} vs "
            f"{area(ranked[0]):.0f} px^2): use a photo where the person's face is clearly the largest")
    return ranked[0]
