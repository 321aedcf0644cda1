"""The enrolment rules, one set for one photo, a list of photos and a folder of people
(`Gallery.enroll`, `Gallery.enroll_folder`):

- a person's name is a non-empty printable string of at most MAX_NAME characters;
- a photo gives one embedding, of its enrolment face (faces.py: the largest, unless there is
  none or another is nearly as large); a photo that gives none is refused with the reason;
- one enrolment is one model version: a server that changes model halfway stops it;
- embeddings are stored in the collection of the model that made them (or of its earlier
  name, store.enrolled_name), and a person's embeddings of any other model version are
  deleted (`replace` deletes all the earlier ones).
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..models import EmbeddedFace
from ..photos import PhotoLike
from .errors import GalleryError
from .faces import FaceChoiceError, enrolment_face
from .results import Refusal
from .store import Face, GalleryStore, collection_for, content_hash, enrolled_name

MAX_NAME = 200


@dataclass(frozen=True)
class Embedded:
    """A photo that gives an embedding to enrol: its name, the embedding of its enrolment face,
    and the sha256 of its content (what enrolment of a folder resumes by; None if unknown)."""

    photo: str
    vector: list[float]
    sha256: str | None = None


# What enrolment made of one photo.
Outcome = Embedded | Refusal


def check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise GalleryError("a person's name must be a non-empty string", code="bad_name")
    name = name.strip()
    if len(name) > MAX_NAME or any(ord(ch) < 32 for ch in name):
        raise GalleryError(f"a person's name is at most {MAX_NAME} printable characters", code="bad_name")
    return name


def photo_name(photo: PhotoLike, index: int) -> str:
    """A path's file name; `photo_<n>` (1-based) for bytes, arrays and images."""
    if isinstance(photo, (str, os.PathLike)):
        return Path(photo).name
    return f"photo_{index + 1}"


def photo_hash(photo: PhotoLike) -> str | None:
    """sha256 of a file's or bytes' content (what enrolment of a folder resumes by); None otherwise."""
    if isinstance(photo, (str, os.PathLike)):
        try:
            return content_hash(Path(photo).read_bytes())
        except OSError:
            return None
    if isinstance(photo, (bytes, bytearray)):
        return content_hash(bytes(photo))
    return None


def refused(photo: str, code: str | None, reason: str) -> Refusal:
    """A photo the server or the photo reader could not use (`code` as they give it)."""
    return Refusal(photo=photo, code=code or "bad_photo", reason=reason)


def outcome(photo: str, faces: Sequence[EmbeddedFace], similar_area: float, sha256: str | None) -> Outcome:
    """The photo's embedding to enrol, or why it has none (no_face, several_faces)."""
    try:
        face = enrolment_face(faces, similar_area)
    except FaceChoiceError as exc:
        return Refusal(photo=photo, code=exc.code, reason=exc.reason)
    return Embedded(photo=photo, vector=face.embedding, sha256=sha256)


def same_model(expected: str | None, served: str) -> str:
    """The model of the enrolment so far (None: no photo yet) must be the one just served."""
    if expected is not None and served != expected:
        raise GalleryError(f"the server changed model during enrolment ({expected} -> {served}); enrol again",
                           code="model_changed")
    return served


def keep(store: GalleryStore, model: str, people: Mapping[str, Sequence[Embedded]], *, aliases: Iterable[str] = (),
         replace: bool, wipe: bool = True) -> int:
    """Stores each person's embeddings (made by `model`; `aliases`: its earlier names, as the
    server sends them) under the name the gallery keeps that model's embeddings under
    (store.enrolled_name), after deleting their embeddings of other model versions, or all
    their earlier ones if `replace`. Returns how many were deleted. `wipe`: make the
    deletions final in the files now (enrolment of a folder does it once, at the end)."""
    embedded = [photo for photos in people.values() for photo in photos]
    if not embedded:
        return 0
    kept_as = enrolled_name(store.collections(), model, aliases)
    current = collection_for(kept_as)
    store.ensure(current, len(embedded[0].vector))
    others = [collection for collection in store.collections() if collection != current]
    replaced = sum(store.delete_person(name, None if replace else others) for name in sorted(people)
                   if replace or others)
    store.put(current, [Face(name, photo.photo, kept_as, photo.vector, photo.sha256)
                        for name, photos in people.items() for photo in photos])
    if replaced:
        store.drop_empty(keep=current)
        if wipe:
            store.wipe()
    return replaced
