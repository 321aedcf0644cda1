"""The served gallery: the galleries the service keeps (TorchServe model `face-gallery`,
handler/gallery.py), asked over HTTP with FaceClient's address and token. The back-end of
`Gallery()` / `Gallery(name="staff")` (gallery.py).

The embedded store admits one process; the service's worker is that process, so the web page,
the CLI, video and curl all use one gallery at once. Enrolment and identification run in the
service (photos are sent); faces already embedded (video frames, a folder's photos, another
gallery's points) are searched and stored as embeddings (`search`, `store`), so a bulk
enrolment keeps face-embed's throughput and the gallery's worker only writes.

Riding over a restarted worker: TorchServe restarts a killed face-gallery worker within
seconds, and the requests meanwhile fail with connection errors, 503, "Worker died" or a
timeout (queued behind the restart). Every
action is retried for up to `restart_wait` seconds except `remove` (whose answer, how many
were deleted, would read 0 the second time): identify, search, people and count only read;
an enrolment sends the same photos again, named by their content (`image_<n>-<sha256>`), so it
lands on the same points; `store` writes the same points (person + photo name) again.
"""
from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from ..client import PART_OVERHEAD_BYTES, FaceClient
from ..errors import BadInputError, PhotoInputError, RequestTimeoutError, ServerError, ServerUnavailableError
from ..models import EmbeddingResult
from ..photos import PhotoLike, is_single_photo, photo_part
from . import transfer
from .backend import GalleryBackend
from .bulk import BATCH, PER_REQUEST, WORKERS, BulkEnrolment, BulkSummary
from .enrolment import Embedded, check_name, photo_name, refused
from .errors import GalleryError, ModelMismatchError
from .faces import SIMILAR_AREA
from .results import Enrollment, Identification, Person, Refusal
from .store import Face, GalleryStore, point_id
from .threshold import DEFAULT_FALSE_IDENTIFICATION_RATE

GALLERY_MODEL = "face-gallery"
DEFAULT_GALLERY = "default"
GALLERY_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # as the service checks it
RESTART_WAIT_S = 120.0  # face-gallery's responseTimeout: a restarted worker takes ~10-30 s (loading the network)
MAX_PHOTOS = 32  # photos per enrolment request: the handler's max_photos
MAX_ITEMS = 500  # faces per store / search request and photos per look-up (the service takes 1,000)

AnswerT = TypeVar("AnswerT", bound=BaseModel)


class People(BaseModel):
    people: list[Person]


class Count(BaseModel):
    people: int
    faces: int


class Removal(BaseModel):
    name: str
    removed: int


class Stored(BaseModel):
    model: str
    stored: int
    replaced: int


class StoredPhoto(BaseModel):
    name: str
    photo: str
    stored: bool
    sha256: str | None


class StoredPhotos(BaseModel):
    model: str
    photos: list[StoredPhoto]


def batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def sized_batches(parts: Sequence[tuple[str, tuple[str, bytes, str]]], count: int,
                  budget: int) -> Iterator[list[tuple[str, tuple[str, bytes, str]]]]:
    """Photos in requests of at most `count` photos and `budget` bytes (each photo fits alone)."""
    batch: list[tuple[str, tuple[str, bytes, str]]] = []
    size = 0
    for part in parts:
        if batch and (len(batch) == count or size + len(part[1][1]) > budget):
            yield batch
            batch, size = [], 0
        batch.append(part)
        size += len(part[1][1])
    if batch:
        yield batch


class ServedGallery(GalleryBackend):
    """The gallery `name` of the service FaceClient talks to (`Gallery()`)."""

    def __init__(self, client: FaceClient | None = None, name: str = DEFAULT_GALLERY, *,
                 restart_wait: float = RESTART_WAIT_S, similar_area: float = SIMILAR_AREA,
                 false_identification_rate: float = DEFAULT_FALSE_IDENTIFICATION_RATE) -> None:
        """client: the service's address and token (default FaceClient(), created on first
        use). name: the gallery (1-64 of A-Z a-z 0-9 _ -). restart_wait: seconds a call keeps
        retrying while the gallery's worker restarts. false_identification_rate: what
        identify's default threshold is sized for, sent with each identify and search.
        similar_area is the service's (its default): another value is refused rather than
        silently not applied."""
        if not isinstance(name, str) or not GALLERY_NAME.fullmatch(name):
            raise GalleryError(f"gallery name {str(name)[:70]!r}: 1-64 letters, digits, _ or -", code="invalid_gallery")
        if similar_area != SIMILAR_AREA:
            raise GalleryError("the served gallery enrols with the service's similar_area; open a folder "
                               "(Gallery(folder)) for another", code="not_supported")
        super().__init__(client, false_identification_rate)
        self.name = name
        self.restart_wait = float(restart_wait)

    @property
    def location(self) -> str:
        return f"{self.client.base_url}/predictions/{GALLERY_MODEL} (gallery {self.name})"

    # ------------------------------------------------------------------ enrol / remove

    def enroll(self, name: str, photos: PhotoLike | Iterable[PhotoLike], *, add: bool = False) -> Enrollment:
        """As Gallery.enroll, in the service; answered once the embeddings are on disk. The
        enrolled photos are named `image_<n>-<12 hex of their sha256>.<ext>`; refusals name the
        caller's photos."""
        name = check_name(name)
        photos = [photos] if is_single_photo(photos) else list(cast(Iterable[PhotoLike], photos))
        refusals: list[Refusal] = []
        parts: list[tuple[str, tuple[str, bytes, str]]] = []
        budget = self.client.max_request_bytes - PART_OVERHEAD_BYTES * (MAX_PHOTOS + 4)
        for index, photo in enumerate(photos):
            label = photo_name(photo, index)
            try:
                part = photo_part("image", photo, self.client.encoding)
            except PhotoInputError as exc:  # unreadable here: never sent
                refusals.append(refused(label, exc.code, exc.message))
                continue
            if len(part[1]) > budget:
                refusals.append(refused(label, "request_too_large", f"{label}: over the server's "
                                        f"{self.client.max_request_bytes / 2**20:g} MiB request limit; not sent"))
                continue
            parts.append((label, part))
        done = Enrollment(name=name, model=None, enrolled=[], refused=[], replaced=0)
        for chunk in sized_batches(parts, MAX_PHOTOS, budget):
            # the first request that enrols anything replaces the person's photos (unless add);
            # the rest of a long list adds to it
            replace = not add and not done.enrolled
            fields: list[tuple[str, Any]] = [("action", "enroll"), ("gallery", self.name), ("name", name),
                                             ("add", "false" if replace else "true")]
            fields += [(f"image_{n}", (f"image_{n}{Path(part[0]).suffix}", part[1], part[2]))
                       for n, (_, part) in enumerate(chunk, start=1)]
            answer = self._call(partial(self.client.post_form, GALLERY_MODEL, fields, Enrollment))
            labels = {f"image_{n}": label for n, (label, _) in enumerate(chunk, start=1)}
            done = Enrollment(name=name, model=answer.model or done.model, enrolled=done.enrolled + answer.enrolled,
                              refused=done.refused + [r.model_copy(update={"photo": labels.get(
                                  r.photo.split("-")[0], r.photo)}) for r in answer.refused],
                              replaced=done.replaced + answer.replaced)
        return done.model_copy(update={"refused": refusals + done.refused})

    def enroll_folder(self, people_dir: str | os.PathLike, *, workers: int = WORKERS, per_request: int = PER_REQUEST,
                      batch: int = BATCH, progress: Callable[[int, int], None] | None = None) -> BulkSummary:
        """As Gallery.enroll_folder: photos embedded by face-embed (`workers` requests of
        `per_request` photos in flight), each batch looked up in the served gallery first
        (resume by content) and its embeddings stored there, durably, before the next."""
        enrolment = BulkEnrolment(ServedTarget(self), self.client, similar_area=SIMILAR_AREA, workers=workers,
                                  batch=batch, per_request=per_request)
        return enrolment.run(Path(people_dir), progress)

    def remove(self, name: str) -> int:
        """Deletes every embedding of the person, from the service's files too; how many."""
        answer = self.client.post_json(GALLERY_MODEL, {"action": "remove", "gallery": self.name,
                                                       "name": check_name(name)}, Removal)
        return answer.removed

    # ------------------------------------------------------------------ embeddings

    def put_faces(self, faces: Sequence[Face]) -> int:
        """Stores faces embedded elsewhere (each with its model's label, person, photo name,
        sha256 and vector), MAX_ITEMS per request; how many."""
        stored = 0
        for chunk in batches(faces, MAX_ITEMS):
            models = {face.model for face in chunk}
            for model in sorted(models):
                body = {"action": "store", "gallery": self.name, "model": model, "faces": [
                    {"name": face.name, "photo": face.photo, "sha256": face.sha256, "embedding": face.values()}
                    for face in chunk if face.model == model]}
                stored += self._call(partial(self.client.post_json, GALLERY_MODEL, body, Stored)).stored
        return stored

    def stored(self, photos: Sequence[tuple[str, str]]) -> list[StoredPhoto]:
        """Which (person, photo name) the gallery holds for the served model, with their sha256."""
        found: list[StoredPhoto] = []
        for chunk in batches(photos, MAX_ITEMS):
            body = {"action": "stored", "gallery": self.name,
                    "photos": [{"name": name, "photo": photo} for name, photo in chunk]}
            try:
                found += self._call(partial(self.client.post_json, GALLERY_MODEL, body, StoredPhotos)).photos
            except BadInputError as exc:
                if exc.code != "unknown_gallery":
                    raise
                found += [StoredPhoto(name=name, photo=photo, stored=False, sha256=None) for name, photo in chunk]
        return found

    # ------------------------------------------------------------------ move

    def put(self, source: GalleryStore) -> dict[str, int]:
        """Every point of `source` (a store opened here) into the served gallery, per collection,
        MAX_ITEMS at a time, each batch looked up afterwards and each collection's count checked
        (count_mismatch). A collection of another model version than the served one is refused
        (ModelMismatchError): enrol those people again."""
        copied = self._put_checked((collection, face) for collection in source.collections()
                                   for face in source.faces(collection, with_vectors=True))
        for collection in source.collections():
            transfer.check_count(collection, source.count(collection), copied.get(collection, 0))
        return copied

    def import_file(self, path: str | os.PathLike) -> dict[str, int]:
        """Adds a file written by `gallery export`, checked as `put` is (against the file's header)."""
        header, rows = transfer.read_export(Path(path))
        collections = header["collections"]

        def faces() -> Iterator[tuple[str, Face]]:
            for row in rows:
                if row["collection"] not in collections:
                    raise GalleryError(f"{path}: a point of {row['collection']}, which the header does not list",
                                       code="bad_export")
                yield row["collection"], Face.from_payload(row, row["vector"])

        copied = self._put_checked(faces())
        for collection, info in collections.items():
            transfer.check_count(collection, info["count"], copied.get(collection, 0))
        return copied

    def _put_checked(self, faces: Iterable[tuple[str, Face]]) -> dict[str, int]:
        """(collection, face) pairs stored MAX_ITEMS at a time (a batch holds one collection's),
        each batch looked up afterwards; how many per collection."""
        copied: dict[str, int] = {}
        batch: list[Face] = []
        current = ""
        for collection, face in faces:
            if batch and (collection != current or len(batch) == MAX_ITEMS):
                copied[current] = copied.get(current, 0) + self._put_batch(current, batch)
                batch = []
            current = collection
            batch.append(face)
        if batch:
            copied[current] = copied.get(current, 0) + self._put_batch(current, batch)
        return copied

    def _put_batch(self, collection: str, faces: Sequence[Face]) -> int:
        stored = self.put_faces(faces)
        self._check_landed(collection, faces)
        return stored

    def _check_landed(self, collection: str, faces: Sequence[Face]) -> None:
        found = self.stored([(face.name, face.photo) for face in faces])
        missing = [f"{face.name} / {face.photo}" for face, answer in zip(faces, found, strict=True)
                   if not answer.stored or answer.sha256 != face.sha256]
        if missing:
            raise GalleryError(f"{collection}: {len(missing)} of {len(faces)} points not found in the served gallery "
                               f"afterwards (first: {missing[0]})", code="count_mismatch")

    def export(self, path: str | os.PathLike) -> dict[str, int]:
        raise GalleryError("the served gallery's embeddings do not leave the service over HTTP: stop it and "
                           "export its folder (`gallery export FILE --gallery <gallery_root>/<name>`)",
                           code="not_supported")

    def push(self, destination: object, *, shards: int | None = None) -> dict[str, int]:
        raise GalleryError("the served gallery is pushed into, not from: `gallery push FOLDER` moves a folder's "
                           "people into it", code="not_supported")

    # ------------------------------------------------------------------ read

    def people(self) -> list[Person]:
        return self._call(lambda: self.client.post_json(GALLERY_MODEL, {"action": "people", "gallery": self.name},
                                                        People)).people

    def count(self) -> int:
        return self.counts().people

    def counts(self) -> Count:
        """People and faces enrolled."""
        return self._call(lambda: self.client.post_json(GALLERY_MODEL, {"action": "count", "gallery": self.name},
                                                        Count))

    # ------------------------------------------------------------------ identify

    def identify(self, photo: PhotoLike, top_k: int = 3, threshold: float | None = None, *,
                 false_identification_rate: float | None = None) -> Identification:
        """As Gallery.identify, in the service (its threshold sized to the gallery)."""
        rate = false_identification_rate or self.false_identification_rate
        fields: list[tuple[str, Any]] = [("action", "identify"), ("gallery", self.name), ("top_k", str(top_k)),
                                         ("false_identification_rate", repr(float(rate))),
                                         ("image", photo_part("image", photo, self.client.encoding))]
        if threshold is not None:
            fields.append(("threshold", repr(float(threshold))))
        return self._call(lambda: self.client.post_form(GALLERY_MODEL, fields, Identification))

    def search(self, answer: EmbeddingResult, top_k: int = 3, threshold: float | None = None, *,
               false_identification_rate: float | None = None) -> Identification:
        """identify() for faces already embedded by face-embed (e.g. a video frame's answer):
        the embeddings are searched in the service, not sent again as a photo."""
        if top_k < 1:
            raise GalleryError("top_k must be >= 1", code="bad_top_k")
        faces = [face.model_dump(mode="json") for face in answer.faces]
        found: Identification | None = None
        for chunk in batches(faces, MAX_ITEMS) if faces else [[]]:
            body = {"action": "search", "gallery": self.name, "model": answer.model, "faces": list(chunk),
                    "top_k": top_k, "threshold": threshold,
                    "false_identification_rate": false_identification_rate or self.false_identification_rate}
            part = self._call(partial(self.client.post_json, GALLERY_MODEL, body, Identification))
            found = part if found is None else found.model_copy(update={"faces": found.faces + part.faces})
        assert found is not None
        return found

    # ------------------------------------------------------------------ transport

    def _call(self, send: Callable[[], AnswerT]) -> AnswerT:
        """send(), again while the gallery's worker restarts (for up to restart_wait seconds);
        the service's 409 model_mismatch as ModelMismatchError."""
        deadline, pause = time.monotonic() + self.restart_wait, 0.25
        while True:
            try:
                return send()
            except (ServerUnavailableError, RequestTimeoutError, ServerError) as exc:
                # a request queued behind a restarting worker may outwait the client's timeout
                restarting = not isinstance(exc, ServerError) or "Worker died" in exc.message
                if not restarting or time.monotonic() + pause > deadline:
                    raise
            except BadInputError as exc:
                if exc.code == "model_mismatch":
                    raise ModelMismatchError(exc.message, stale={}, current="") from exc
                raise
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    def close(self) -> None:
        self.close_client()


class ServedTarget:
    """A bulk enrolment's batches into the served gallery (bulk.EnrolmentTarget)."""

    def __init__(self, gallery: ServedGallery) -> None:
        self.gallery = gallery

    def stored_hashes(self, model: str, aliases: Sequence[str], photos: Sequence[tuple[str, str]]) -> dict[str, str]:
        # the service looks up its own model's collection: the one the batch's embeddings go to
        return {point_id(found.name, found.photo): found.sha256 for found in self.gallery.stored(photos)
                if found.sha256}

    def keep(self, model: str, aliases: Sequence[str], people: Mapping[str, Sequence[Embedded]]) -> None:
        self.gallery.put_faces([Face(name, photo.photo, model, photo.vector, photo.sha256)
                                for name, photos in people.items() for photo in photos])

    def finish(self) -> None:
        """Nothing: the service flushed every batch, and its store indexes as it grows."""
