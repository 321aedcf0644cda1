"""What the gallery answers, as pydantic models (`.model_dump(mode="json")` for JSON)."""
from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from ..models import Box


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True)


class Refusal(_Result):
    """A photo that was not enrolled, and why (`code`: no_face, several_faces, or the
    server's / the photo reader's error code such as not_an_image)."""

    photo: str
    code: str
    reason: str


class PersonRefusal(_Result):
    """A photo of a person folder that was not enrolled (`Gallery.enroll_folder`): whose, which
    file, and why (codes as for Refusal)."""

    person: str
    photo: str  # the file's path
    code: str
    reason: str


class Enrollment(_Result):
    name: str
    model: str | None  # the model version the embeddings come from (None: nothing enrolled)
    enrolled: list[str]  # photo names kept, one embedding each
    refused: list[Refusal]
    replaced: int  # embeddings of this person deleted first (re-enrolment)


class Candidate(_Result):
    name: str
    score: float  # cosine similarity to this person's closest enrolled photo
    photo: str  # that photo's name


class IdentifiedFace(_Result):
    box: Box
    confidence: float
    identity: str | None  # the best candidate if its score >= threshold; None: unknown
    score: float | None  # the best candidate's score (None: empty gallery)
    candidates: list[Candidate]  # best first, one per person


class Identification(_Result):
    model: str
    threshold: float
    embeddings: int  # enrolled embeddings searched (of the served model version)
    faces: list[IdentifiedFace]  # every face in the photo, largest first

    @property
    def identities(self) -> list[str | None]:
        return [face.identity for face in self.faces]


class Person(_Result):
    name: str
    model: str
    photos: list[str]
