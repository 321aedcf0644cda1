"""The gallery in this process: enrol, identify, remove, move, over a vector store opened here
(an embedded folder, which admits one process, or a Qdrant server URL). The rules are
enrolment.py's; embeddings come from the service's face-embed (through FaceClient). This is
the back-end of `Gallery(folder)` / `Gallery(url)` (gallery.py), and what face-gallery's
worker keeps for each named gallery (handler/gallery.py).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol, cast

from ..client import FaceClient
from ..errors import BadInputError, PhotoInputError
from ..models import EmbeddingResult
from ..photos import PhotoLike, is_single_photo
from . import transfer
from .backend import GalleryBackend
from .bulk import BATCH, PER_REQUEST, WORKERS, BulkEnrolment, BulkSummary, StoreTarget
from .edge_settings import EdgeSettings
from .enrolment import Embedded, check_name, keep, outcome, photo_hash, photo_name, refused, same_model
from .errors import GalleryError, ModelMismatchError
from .faces import SIMILAR_AREA
from .open_store import open_store
from .results import Candidate, Enrollment, Identification, IdentifiedFace, Person, Refusal
from .store import GalleryStore, collection_for, enrolled_name
from .threshold import DEFAULT_FALSE_IDENTIFICATION_RATE, search_threshold


class PointsDestination(Protocol):
    """Where `push` copies a store's points other than a store: the served gallery."""

    def put(self, source: GalleryStore) -> dict[str, int]: ...


class LocalGallery(GalleryBackend):
    """A gallery whose store this process opens (`Gallery(folder)`, `Gallery(url)`)."""

    def __init__(self, location: str | os.PathLike, client: FaceClient | None = None, *,
                 similar_area: float = SIMILAR_AREA, shards: int | None = None,
                 false_identification_rate: float = DEFAULT_FALSE_IDENTIFICATION_RATE,
                 settings: EdgeSettings | None = None) -> None:
        """location: folder of the embedded store or URL of a Qdrant server. client: the
        FaceClient used to embed photos (default FaceClient(), created on first use).
        similar_area: a second face at least this share of the largest one's area makes a
        photo ambiguous to enrol (faces.py).
        shards: `shard_number` of collections created on a Qdrant cluster.
        false_identification_rate: the share of strangers' faces that may be named as someone
        enrolled; it sets identify's default threshold. settings: the embedded store's index
        and search settings (default EdgeSettings(); a server has its own)."""
        super().__init__(client, false_identification_rate)
        self.location = str(location)
        self.settings = settings or EdgeSettings()
        self.store = open_store(self.location, shards=shards, settings=self.settings)
        self.similar_area = similar_area

    # ------------------------------------------------------------------ enrol / remove

    def enroll(self, name: str, photos: PhotoLike | Iterable[PhotoLike], *, add: bool = False) -> Enrollment:
        """One embedding per usable photo (its largest face); `photos`: one photo or several.
        Replaces the person's earlier embeddings unless `add`; embeddings of another model
        version are always replaced. Unusable photos are listed in `.refused` with the reason;
        if none is usable the gallery is left as it was. The rules: enrolment.py."""
        name = check_name(name)
        embedded: list[Embedded] = []
        refusals: list[Refusal] = []
        model: str | None = None
        aliases: list[str] = []
        for index, photo in enumerate([photos] if is_single_photo(photos) else cast(Iterable[PhotoLike], photos)):
            label = photo_name(photo, index)
            try:
                answer = self.client.embed(photo)
            except (BadInputError, PhotoInputError) as exc:
                refusals.append(refused(label, exc.code, exc.message))
                continue
            found = outcome(label, answer.faces, self.similar_area, photo_hash(photo))
            if isinstance(found, Refusal):
                refusals.append(found)
                continue
            model, aliases = same_model(model, answer.model), answer.aliases
            embedded.append(found)
        if model is None:
            return Enrollment(name=name, model=None, enrolled=[], refused=refusals, replaced=0)
        replaced = keep(self.store, model, {name: embedded}, aliases=aliases, replace=not add)
        return Enrollment(name=name, model=model, enrolled=[photo.photo for photo in embedded], refused=refusals,
                          replaced=replaced)

    def enroll_folder(self, people_dir: str | os.PathLike, *, workers: int = WORKERS, per_request: int = PER_REQUEST,
                      batch: int = BATCH, progress: Callable[[int, int], None] | None = None) -> BulkSummary:
        """Gallery.enroll_folder (gallery.py) into this process's store."""
        enrolment = BulkEnrolment(StoreTarget(self.store), self.client, similar_area=self.similar_area, workers=workers,
                                  batch=batch, per_request=per_request)
        return enrolment.run(Path(people_dir), progress)

    def remove(self, name: str) -> int:
        """Deletes every embedding of the person, from the store's files too; returns how
        many were deleted (0: not enrolled)."""
        deleted = self.store.delete_person(check_name(name))
        if deleted:
            self.store.drop_empty()
            self.store.wipe()
        return deleted

    # ------------------------------------------------------------------ move

    def export(self, path: str | os.PathLike) -> dict[str, int]:
        """Writes the whole gallery to a gzipped JSON-lines file, owner-only (it holds
        biometric data); embeddings written per collection, counts checked (transfer.py)."""
        return transfer.export_file(self.store, path)

    def import_file(self, path: str | os.PathLike) -> dict[str, int]:
        """Adds a file written by `export`; embeddings copied per collection, counts checked."""
        return transfer.import_file(path, self.store)

    def push(self, destination: str | os.PathLike | PointsDestination, *, shards: int | None = None) -> dict[str, int]:
        """Copies the gallery into another store (a Qdrant server URL or a folder, opened with
        this gallery's settings; `shards` for collections created on a cluster) or into the
        served gallery; embeddings copied per collection, counts checked."""
        if not isinstance(destination, (str, os.PathLike)):
            return destination.put(self.store)
        with open_store(destination, shards=shards, settings=self.settings) as target:
            return transfer.copy(self.store, target)

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
        """People enrolled (from the store's name index: no point is read)."""
        names: set[str] = set()
        for collection in self.store.collections():
            names.update(self.store.names(collection))
        return len(names)

    # ------------------------------------------------------------------ identify

    def identify(self, photo: PhotoLike, top_k: int = 3, threshold: float | None = None, *,
                 false_identification_rate: float | None = None) -> Identification:
        """Every face in the photo with its `top_k` best candidates (one per person). A face's
        identity is the best candidate if its score >= threshold, else None (unknown). The
        default threshold grows with the gallery (`threshold.search_threshold`: the
        server's calibrated thresholds, for `false_identification_rate`). Raises
        ModelMismatchError while the gallery holds people enrolled with another model version
        than the server's."""
        return self.search(self.client.embed(photo), top_k, threshold,
                           false_identification_rate=false_identification_rate)

    def search(self, answer: EmbeddingResult, top_k: int = 3, threshold: float | None = None, *,
               false_identification_rate: float | None = None) -> Identification:
        """identify() for faces already embedded by the service (its face-embed answer), e.g.
        one answer per video frame."""
        if top_k < 1:
            raise GalleryError("top_k must be >= 1", code="bad_top_k")
        collections = self.store.collections()
        current = collection_for(enrolled_name(collections, answer.model, answer.aliases))
        self.check_model(answer.model, answer.aliases)
        searched = self.store.count(current) if current in collections else 0
        if threshold is None:
            threshold = search_threshold(answer, searched, false_identification_rate or self.false_identification_rate)
        if threshold is None:
            raise GalleryError("the server does not send its threshold (restart it with `make serve` to "
                               "update it) and none was given", code="no_threshold")
        threshold = float(threshold)
        faces = []
        for face in answer.faces:
            hits = self.store.search(current, face.embedding, top_k) if searched else []
            candidates = [Candidate(name=hit.name, score=round(hit.score, 6), photo=hit.photo) for hit in hits]
            best = candidates[0] if candidates else None
            faces.append(IdentifiedFace(
                box=face.box, confidence=face.confidence,
                identity=best.name if best is not None and best.score >= threshold else None,
                score=best.score if best is not None else None, candidates=candidates))
        return Identification(model=answer.model, threshold=threshold, embeddings=searched, faces=faces)

    def check_model(self, model: str, aliases: Iterable[str] = ()) -> None:
        """Raises ModelMismatchError if anyone is enrolled with another model version (the
        `aliases` the server sends are earlier names of its model, not other versions)."""
        current = collection_for(enrolled_name(self.store.collections(), model, aliases))
        stale: dict[str, str] = {}
        for collection in self.store.collections():
            enrolled = self.store.names(collection) if collection != current else {}
            if enrolled:
                version = str(self.store.model_of(collection))  # one collection, one model version
                for name in enrolled:
                    stale.setdefault(name, version)
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
        self.close_client()

