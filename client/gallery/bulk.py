"""Bulk enrolment: every PEOPLE_DIR/<name>/<photo> as the person <name>, resumable.

- Photos are embedded `per_request` at a time per face-embed request, `workers` requests in
  flight, and stored `batch` at a time; each stored batch is flushed, so a killed run loses
  at most the batch in flight.
- Resume by content: a photo whose point (person + file name) is already stored with the same
  sha256 is skipped without being sent. A photo whose content changed is embedded again and
  replaces its point. Points are keyed by person + file name, so no photo is stored twice.
- A person's embeddings of another model version are deleted when the person is enrolled
  with the served one (as `Gallery.enroll` does).
- Photos are added: a person's stored photos that are no longer in the folder stay.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import PhotoInputError
from ..photos import PHOTO_SUFFIXES
from .errors import GalleryError
from .faces import FaceChoiceError, enrolment_face
from .gallery import Gallery, check_name
from .store import Face, collection_for, content_hash, point_id

WORKERS = 4  # requests in flight: one per service worker, and one more each queued behind it
PER_REQUEST = 8  # photos per face-embed request
BATCH = 64  # photos stored (and flushed) together


@dataclass(frozen=True)
class Job:
    name: str
    path: Path

    @property
    def id(self) -> str:
        return point_id(self.name, self.path.name)


@dataclass
class BulkSummary:
    people: int = 0
    photos: int = 0
    enrolled: int = 0
    skipped: int = 0  # already enrolled with the same content
    refused: list[dict] = field(default_factory=list)  # {person, photo, code, reason}
    model: str | None = None
    seconds: float = 0.0

    def as_json(self) -> dict:
        return {"people": self.people, "photos": self.photos, "enrolled": self.enrolled, "skipped": self.skipped,
                "refused_count": len(self.refused), "model": self.model, "seconds": round(self.seconds, 2),
                "photos_per_second": round(self.photos / self.seconds, 2) if self.seconds else None,
                "refused": self.refused}


def people_jobs(root: Path) -> list[Job]:
    """Every photo of every person folder, by person then file name."""
    if not root.is_dir():
        raise PhotoInputError(f"{root} is not a folder (expected {root}/<name>/*.jpg)", code="not_a_folder")
    jobs = [Job(check_name(folder.name), photo)
            for folder in sorted(p for p in root.iterdir() if p.is_dir())
            for photo in sorted(folder.iterdir()) if photo.is_file() and photo.suffix.lower() in PHOTO_SUFFIXES]
    if not jobs:
        raise PhotoInputError(f"no person folders with photos in {root} (expected {root}/<name>/*.jpg)",
                              code="empty_folder")
    return jobs


def chunked(jobs: Sequence[Job], size: int) -> Iterator[Sequence[Job]]:
    for start in range(0, len(jobs), size):
        yield jobs[start:start + size]


class BulkEnrolment:
    def __init__(self, gallery: Gallery, workers: int = WORKERS, batch: int = BATCH,
                 per_request: int = PER_REQUEST) -> None:
        if workers < 1 or batch < 1 or per_request < 1:
            raise GalleryError("workers, batch and per_request must be >= 1", code="bad_setting")
        self.gallery, self.store = gallery, gallery.store
        self.workers, self.batch, self.per_request = workers, batch, per_request
        self.model: str | None = None
        self.summary = BulkSummary()

    def run(self, root: Path, progress: Callable[[int], None] | None = None) -> BulkSummary:
        """Enrols `root`; `progress(photos)` after each stored batch."""
        start = time.perf_counter()
        jobs = people_jobs(root)
        self.summary.people = len({job.name for job in jobs})
        self.summary.photos = len(jobs)
        with ThreadPoolExecutor(self.workers) as pool:
            for batch in chunked(jobs, self.batch):
                self._batch(batch, pool)
                if progress is not None:
                    progress(len(batch))
        self.store.optimize()
        self.summary.model = self.model
        self.summary.seconds = time.perf_counter() - start
        return self.summary

    def _batch(self, batch: Sequence[Job], pool: ThreadPoolExecutor) -> None:
        data = {job: job.path.read_bytes() for job in batch}
        hashes = {job: content_hash(content) for job, content in data.items()}
        known: dict[Job, tuple] = {}
        for first in chunked(batch, self.per_request):  # the served model names the collection to resume in
            if self.model is not None:
                break
            self.model, answers = self._embed(first, data)
            known.update(zip(first, answers, strict=False))
        if self.model is None:  # not one photo reached the server
            self._refuse(batch, known)
            return
        current = collection_for(self.model)
        stored = self.store.stored(current, [job.id for job in batch])
        todo = [job for job in batch if job.id not in stored or stored[job.id].sha256 != hashes[job]]
        self.summary.skipped += len(batch) - len(todo)
        requests = list(chunked([job for job in todo if job not in known], self.per_request))
        for jobs, (model, answers) in zip(requests, pool.map(lambda jobs: self._embed(jobs, data), requests), strict=False):
            if model is not None and model != self.model:
                raise GalleryError(f"the server changed model during enrolment ({self.model} -> {model}); "
                                   "run enroll-all again", code="model_changed")
            known.update(zip(jobs, answers, strict=False))
        self._refuse(todo, known)
        faces = [Face(job.name, job.path.name, self.model, known[job][0], hashes[job])
                 for job in todo if known[job][1] is None]
        if not faces:
            return
        self.store.ensure(current, len(faces[0].vector))
        others = [c for c in self.store.collections() if c != current]
        if others:
            for name in sorted({face.name for face in faces}):
                self.store.delete_person(name, others)
            self.store.drop_empty(keep=current)
        self.store.put(current, faces)
        self.summary.enrolled += len(faces)

    def _refuse(self, jobs: Sequence[Job], known: dict[Job, tuple]) -> None:
        self.summary.refused += [{"person": job.name, "photo": str(job.path), **known[job][1]}
                                 for job in jobs if known[job][1] is not None]

    def _embed(self, jobs: Sequence[Job], data: dict[Job, bytes]) -> tuple[str | None, list[tuple]]:
        """One face-embed request: (model, [(embedding of the enrolment face, None) or
        (None, refusal)] per job); model None when no photo could be sent."""
        try:
            answer = self.gallery.client.embed_many([data[job] for job in jobs])
        except PhotoInputError as exc:  # every photo over the request limit
            return None, [(None, {"code": exc.code, "reason": exc.message}) for _ in jobs]
        found: list[tuple] = []
        for index, photo in enumerate(answer.photos):
            if photo.error is not None:
                reason = photo.error.message.removeprefix(f"photos[{index}]: ")
                found.append((None, {"code": photo.error.code, "reason": reason}))
                continue
            try:
                found.append((enrolment_face(photo.faces, self.gallery.similar_area).embedding, None))
            except FaceChoiceError as exc:
                found.append((None, {"code": exc.code, "reason": exc.reason}))
        return answer.model, found
