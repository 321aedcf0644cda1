"""Gallery: enrol people from photos, identify the faces in a photo among them (1:N).

    from client.gallery import Gallery
    with Gallery() as gallery:
        gallery.enroll("Ada", ["ada1.jpg", "ada2.jpg"])
        print(gallery.identify("party.jpg").identities)   # ["Ada", None, ...]; None: unknown

Embeddings come from the running service's face-embed endpoint (through FaceClient); they
are kept in a vector store (store.py). Nothing here imports torch.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from ..client import FaceClient
from ..errors import BadInputError, PhotoInputError
from ..models import EmbeddingResult
from ..photos import PhotoLike
from .errors import GalleryError, ModelMismatchError
from .faces import SIMILAR_AREA, FaceChoiceError, enrolment_face
from .open_store import open_store
from .results import (
    Candidate,
    Enrollment,
    Identification,
    IdentifiedFace,
    Person,
    Refusal,
)
from .store import collection_for, content_hash
from .threshold import DEFAULT_FALSE_IDENTIFICATION_RATE, search_threshold

__all__ = ["Gallery", "default_location", "GalleryError", "ModelMismatchError", "Candidate",
           "Enrollment", "IdentifiedFace", "Identification", "Person", "Refusal"]

GALLERY_ENV = "FACE_GALLERY"
MAX_NAME = 200


def default_location() -> str:
    """$FACE_GALLERY (a folder or a Qdrant URL), else ~/.local/share/face-verify/gallery
    ($XDG_DATA_HOME respected)."""
    if os.environ.get(GALLERY_ENV):
        return os.environ[GALLERY_ENV]
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return str(data_home / "face-verify" / "gallery")


def photo_name(photo: PhotoLike, index: int) -> str:
    """A path's file name; `photo_<n>` (1-based) for bytes, arrays and images."""
    if isinstance(photo, (str, os.PathLike)):
        return Path(photo).name
    return f"photo_{index + 1}"


def photo_hash(photo: PhotoLike) -> str | None:
    """sha256 of a file's or bytes' content (what bulk enrolment resumes by); None otherwise."""
    if isinstance(photo, (str, os.PathLike)):
        try:
            return content_hash(Path(photo).read_bytes())
        except OSError:
            return None
    if isinstance(photo, (bytes, bytearray)):
        return content_hash(bytes(photo))
    return None


def check_name(name: str) -> str:
    if not isinstance(name, str) or not name.strip():
        raise GalleryError("a person's name must be a non-empty string", code="bad_name")
    name = name.strip()
    if len(name) > MAX_NAME or any(ord(ch) < 32 for ch in name):
        raise GalleryError(f"a person's name is at most {MAX_NAME} printable characters", code="bad_name")
    return name


class Gallery:
    """
    >>> gallery = Gallery()                           # the default folder; Gallery("http://qdrant:6333")
    >>> gallery.enroll("Ada", ["ada1.jpg", "ada2.jpg"]).refused
    >>> [face.identity for face in gallery.identify("party.jpg").faces]   # None: unknown
    """

    def __init__(self, location: str | os.PathLike | None = None, client: FaceClient | None = None, *,
                 similar_area: float = SIMILAR_AREA, shards: int | None = None,
                 false_identification_rate: float = DEFAULT_FALSE_IDENTIFICATION_RATE) -> None:
        """location: folder of the embedded store or URL of a Qdrant server (default
        `default_location()`). client: the FaceClient used to embed photos (default
        FaceClient(), created on first use). false_identification_rate: the share of strangers'
        faces that may be named as someone enrolled; it sets identify's default threshold."""
        if not 0.0 < false_identification_rate < 1.0:
            raise GalleryError("false_identification_rate must be in (0, 1)", code="bad_rate")
        self.location = str(location or default_location())
        self.store = open_store(self.location, shards=shards)
        self.similar_area = similar_area
        self.false_identification_rate = false_identification_rate
        self._client = client
        self._own_client = client is None

    @property
    def client(self) -> FaceClient:
        if self._client is None:
            self._client = FaceClient()
        return self._client

    # ------------------------------------------------------------------ enrol / remove

    def enroll(self, name: str, photos: Iterable[PhotoLike], *, add: bool = False) -> Enrollment:
        """One embedding per usable photo (its largest face). Replaces the person's earlier
        embeddings unless `add`; embeddings of another model version are always replaced.
        Unusable photos are listed in `.refused` with the reason; if none is usable the
        gallery is left as it was."""
        name = check_name(name)
        kept: list[tuple[str, list[float], str | None]] = []
        refused: list[Refusal] = []
        model = None
        for index, photo in enumerate(photos):
            label = photo_name(photo, index)
            try:
                answer = self.client.embed(photo)
                face = enrolment_face(answer.faces, self.similar_area)
            except (BadInputError, PhotoInputError) as exc:
                refused.append(Refusal(photo=label, code=exc.code or "bad_photo", reason=exc.message))
                continue
            except FaceChoiceError as exc:
                refused.append(Refusal(photo=label, code=exc.code, reason=exc.reason))
                continue
            if model is not None and answer.model != model:
                raise GalleryError(f"the server changed model during enrolment ({model} -> {answer.model}); "
                                   "enrol again", code="model_changed")
            model = answer.model
            kept.append((label, face.embedding, photo_hash(photo)))
        if not kept:
            return Enrollment(name=name, model=None, enrolled=[], refused=refused, replaced=0)
        current = collection_for(model)
        self.store.ensure(current, len(kept[0][1]))
        others = [c for c in self.store.collections() if c != current]
        replaced = self.store.delete_person(name, others if add else None)
        self.store.add(current, name, model, [label for label, _, _ in kept], [vector for _, vector, _ in kept],
                       [sha for _, _, sha in kept])
        if replaced:
            self.store.drop_empty(keep=current)
            self.store.wipe()
        return Enrollment(name=name, model=model, enrolled=[label for label, _, _ in kept], refused=refused,
                          replaced=replaced)

    def remove(self, name: str) -> int:
        """Deletes every embedding of the person, from the store's files too; returns how
        many were deleted (0: not enrolled)."""
        deleted = self.store.delete_person(check_name(name))
        if deleted:
            self.store.drop_empty()
            self.store.wipe()
        return deleted

    # ------------------------------------------------------------------ read

    def people(self) -> list[Person]:
        """Everyone enrolled, by name, with their photo names and model version."""
        found: dict[tuple[str, str], list[str]] = {}
        for collection in self.store.collections():
            for payload in self.store.points(collection):
                found.setdefault((payload["name"], payload["model"]), []).append(payload["photo"])
        return [Person(name=name, model=model, photos=sorted(photos))
                for (name, model), photos in sorted(found.items())]

    def count(self) -> int:
        """People enrolled."""
        return len({person.name for person in self.people()})

    # ------------------------------------------------------------------ identify

    def identify(self, photo: PhotoLike, top_k: int = 3, threshold: float | None = None) -> Identification:
        """Every face in the photo with its `top_k` best candidates (one per person). A face's
        identity is the best candidate if its score >= threshold, else None (unknown). The
        default threshold grows with the gallery (`threshold.search_threshold`: the
        server's calibrated thresholds, for `false_identification_rate`). Raises
        ModelMismatchError while the gallery holds people enrolled with another model version
        than the server's."""
        return self.search(self.client.embed(photo), top_k, threshold)

    def search(self, answer: EmbeddingResult, top_k: int = 3, threshold: float | None = None) -> Identification:
        """identify() for faces already embedded by the service (its face-embed answer), e.g.
        one answer per video frame."""
        if top_k < 1:
            raise GalleryError("top_k must be >= 1", code="bad_top_k")
        current = collection_for(answer.model)
        self.check_model(answer.model)
        collections = self.store.collections()
        searched = self.store.count(current) if current in collections else 0
        if threshold is None:
            threshold = search_threshold(answer, searched, self.false_identification_rate)
        if threshold is None:
            raise GalleryError("the server does not send its threshold (restart it with `make serve` to "
                               "update it) and none was given", code="no_threshold")
        threshold = float(threshold)
        faces = []
        for face in answer.faces:
            hits = self.store.search(current, face.embedding, top_k) if searched else []
            candidates = [Candidate(name=n, score=round(s, 6), photo=p) for n, s, p in hits]
            best = candidates[0] if candidates else None
            faces.append(IdentifiedFace(
                box=face.box, confidence=face.confidence,
                identity=best.name if best is not None and best.score >= threshold else None,
                score=best.score if best is not None else None, candidates=candidates))
        return Identification(model=answer.model, threshold=threshold, embeddings=searched, faces=faces)

    def check_model(self, model: str) -> None:
        """Raises ModelMismatchError if anyone is enrolled with another model version."""
        current = collection_for(model)
        stale: dict[str, str] = {}
        for collection in self.store.collections():
            if collection != current:
                for payload in self.store.points(collection):
                    stale.setdefault(payload["name"], payload["model"])
        if stale:
            names = sorted(stale)
            shown = ", ".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
            raise ModelMismatchError(
                f"{len(names)} people were enrolled with another model version than the server's "
                f"({sorted(set(stale.values()))} vs {model}): {shown}. Embeddings of different "
                "versions cannot be compared: enrol them again (or remove them)",
                stale=stale, current=model)

    def close(self) -> None:
        self.store.close()
        if self._own_client and self._client is not None:
            self._client.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
