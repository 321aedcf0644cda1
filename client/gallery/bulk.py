"""Enrolment of a folder of people (`Gallery.enroll_folder`, `face-verify gallery enroll-all`):
every PEOPLE_DIR/<name>/<photo> as the person <name>, concurrent and resumable. The rules
(face choice, refusals, model versions) are enrolment.py's, as for `Gallery.enroll`.

- Photos are embedded `per_request` at a time per face-embed request, `workers` requests in
  flight, and stored `batch` at a time; each stored batch is flushed, so a killed run loses
  at most the batch in flight.
- Resume by content: a photo whose point (person + file name) is already stored with the same
  sha256 is skipped without being sent. A photo whose content changed is embedded again and
  replaces its point. Points are keyed by person + file name, so no photo is stored twice.
- Photos are added: a person's stored photos that are no longer in the folder stay (their
  embeddings of another model version are deleted, as by any enrolment).

Where the embeddings go is an EnrolmentTarget: a store in this process (StoreTarget), or the
served gallery (served.py), which looks the batch's photos up and stores their embeddings
through the service.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..client import FaceClient
from ..errors import PhotoInputError
from ..photos import PHOTO_SUFFIXES
from .enrolment import Embedded, Outcome, check_name, keep, outcome, refused, same_model
from .errors import GalleryError
from .results import PersonRefusal, Refusal
from .store import GalleryStore, collection_for, content_hash, enrolled_name, point_id

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
    refused: list[PersonRefusal] = field(default_factory=list)
    model: str | None = None
    seconds: float = 0.0

    def as_json(self) -> dict:
        return {"people": self.people, "photos": self.photos, "enrolled": self.enrolled, "skipped": self.skipped,
                "refused_count": len(self.refused), "model": self.model, "seconds": round(self.seconds, 2),
                "photos_per_second": round(self.photos / self.seconds, 2) if self.seconds else None,
                "refused": [refusal.model_dump(mode="json") for refusal in self.refused]}


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


class EnrolmentTarget(Protocol):
    """Where a bulk enrolment's embeddings go."""

    def stored_hashes(self, model: str, aliases: Sequence[str], photos: Sequence[tuple[str, str]]) -> dict[str, str]:
        """The sha256 of each (person, photo name) stored for `model`, by point id (absent: not
        stored, or stored without one)."""

    def keep(self, model: str, aliases: Sequence[str], people: Mapping[str, Sequence[Embedded]]) -> None:
        """Adds the people's embeddings by the rules of any enrolment (enrolment.keep), durably."""

    def finish(self) -> None:
        """After the last batch."""


class StoreTarget:
    """A store in this process: the deletions made final and the index built once, at the end."""

    def __init__(self, store: GalleryStore) -> None:
        self.store = store

    def stored_hashes(self, model: str, aliases: Sequence[str], photos: Sequence[tuple[str, str]]) -> dict[str, str]:
        current = collection_for(enrolled_name(self.store.collections(), model, aliases))
        found = self.store.stored(current, [point_id(name, photo) for name, photo in photos])
        return {id: face.sha256 for id, face in found.items() if face.sha256}

    def keep(self, model: str, aliases: Sequence[str], people: Mapping[str, Sequence[Embedded]]) -> None:
        keep(self.store, model, people, aliases=aliases, replace=False, wipe=False)

    def finish(self) -> None:
        self.store.optimize()  # also makes the batches' deletions final (the store's wipe)


class BulkEnrolment:
    def __init__(self, target: EnrolmentTarget | GalleryStore, client: FaceClient, *, similar_area: float,
                 workers: int = WORKERS, batch: int = BATCH, per_request: int = PER_REQUEST) -> None:
        """target: where the embeddings go (a store: StoreTarget). client: embeds the photos. similar_area: as
        faces.enrolment_face. workers: face-embed requests in flight. batch: photos stored
        (and flushed) together. per_request: photos per face-embed request."""
        if workers < 1 or batch < 1 or per_request < 1:
            raise GalleryError("workers, batch and per_request must be >= 1", code="bad_setting")
        self.target = StoreTarget(target) if isinstance(target, GalleryStore) else target
        self.client, self.similar_area = client, similar_area
        self.workers, self.batch, self.per_request = workers, batch, per_request
        self.model: str | None = None
        self.aliases: list[str] = []  # earlier names of the served model
        self.summary = BulkSummary()

    def run(self, root: Path, progress: Callable[[int, int], None] | None = None) -> BulkSummary:
        """Enrols `root`; `progress(done, total)` (photos) before the first batch and after each
        stored batch."""
        start = time.perf_counter()
        jobs = people_jobs(root)
        self.summary.people = len({job.name for job in jobs})
        self.summary.photos = len(jobs)
        done = 0
        if progress is not None:
            progress(done, len(jobs))
        with ThreadPoolExecutor(self.workers) as pool:
            for batch in chunked(jobs, self.batch):
                self._batch(batch, pool)
                done += len(batch)
                if progress is not None:
                    progress(done, len(jobs))
        self.target.finish()
        self.summary.model = self.model
        self.summary.seconds = time.perf_counter() - start
        return self.summary

    def _batch(self, batch: Sequence[Job], pool: ThreadPoolExecutor) -> None:
        data = {job: job.path.read_bytes() for job in batch}
        hashes = {job: content_hash(content) for job, content in data.items()}
        known: dict[Job, Outcome] = {}
        for first in chunked(batch, self.per_request):  # the served model names the collection to resume in
            if self.model is not None:
                break
            self.model, self.aliases, answers = self._embed(first, data, hashes)
            known.update(zip(first, answers, strict=True))
        if self.model is None:  # not one photo reached the server
            self._refuse(batch, known)
            return
        stored = self.target.stored_hashes(self.model, self.aliases, [(job.name, job.path.name) for job in batch])
        todo = [job for job in batch if stored.get(job.id) != hashes[job]]
        self.summary.skipped += len(batch) - len(todo)
        requests = list(chunked([job for job in todo if job not in known], self.per_request))
        embedded = pool.map(lambda jobs: self._embed(jobs, data, hashes), requests)
        for jobs, (model, _, answers) in zip(requests, embedded, strict=True):
            if model is not None:
                same_model(self.model, model)
            known.update(zip(jobs, answers, strict=True))
        self._refuse(todo, known)
        people: dict[str, list[Embedded]] = {}
        for job in todo:
            found = known[job]
            if isinstance(found, Embedded):
                people.setdefault(job.name, []).append(found)
        self.target.keep(self.model, self.aliases, people)
        self.summary.enrolled += sum(len(photos) for photos in people.values())

    def _refuse(self, jobs: Sequence[Job], known: dict[Job, Outcome]) -> None:
        self.summary.refused += [PersonRefusal(person=job.name, photo=str(job.path), code=found.code,
                                               reason=found.reason)
                                 for job in jobs if isinstance(found := known[job], Refusal)]

    def _embed(self, jobs: Sequence[Job], data: dict[Job, bytes],
               hashes: dict[Job, str]) -> tuple[str | None, list[str], list[Outcome]]:
        """One face-embed request: (model, its aliases, each job's outcome); model None when no
        photo could be sent."""
        try:
            answer = self.client.embed_many([data[job] for job in jobs])
        except PhotoInputError as exc:  # every photo over the request limit
            return None, [], [refused(job.path.name, exc.code, exc.message) for job in jobs]
        found: list[Outcome] = []
        for index, (job, photo) in enumerate(zip(jobs, answer.photos, strict=True)):
            if photo.error is not None:
                reason = photo.error.message.removeprefix(f"photos[{index}]: ")
                found.append(refused(job.path.name, photo.error.code, reason))
            else:
                found.append(outcome(job.path.name, photo.faces, self.similar_area, hashes[job]))
        return answer.model, answer.aliases, found
