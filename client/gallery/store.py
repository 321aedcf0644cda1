"""The gallery's vector store: one interface (GalleryStore), two back-ends, picked by
`open_store.open_store`:

- a folder: the embedded store, Qdrant Edge (the Qdrant engine in process; edge_store.py);
- an http(s) URL: a Qdrant server or cluster through qdrant-client (server_store.py).

Both keep the same layout: one collection (Edge: one shard) per model version
(`faces-<hash of the version>`), cosine distance, one point per enrolled photo with payload
{name, photo, model, sha256}. Embeddings of two model versions therefore never meet in one
search, and a collection's dimension is whatever that model gives. A search returns one hit
per person (the best of their photos).
"""
from __future__ import annotations

import hashlib
import os
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from .errors import GalleryError

PREFIX = "faces-"
POINT_NAMESPACE = uuid.UUID("6f1c1c52-5f0e-4f55-9d3c-4a0c7f2f8b1e")
PAGE = 1000  # points per scroll page and per write batch


def is_url(location: str | os.PathLike) -> bool:
    return str(location).startswith(("http://", "https://"))


def collection_for(model: str) -> str:
    return PREFIX + hashlib.sha256(model.encode("utf-8")).hexdigest()[:16]


def enrolled_name(collections: Iterable[str], model: str, aliases: Iterable[str] = ()) -> str:
    """The name the gallery keeps `model`'s embeddings under: `model`, unless only one of its
    `aliases` (earlier names of the same weights, sent by the server) has a collection; then
    that alias, so the people enrolled under it are searched, enrolled beside and not stale."""
    present = set(collections)
    if collection_for(model) in present:
        return model
    return next((alias for alias in aliases if collection_for(alias) in present), model)


def point_id(name: str, photo: str) -> str:
    """The same person and photo name always land on the same point (re-adding replaces it)."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"{name}\x00{photo}"))


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Face:
    """One stored point: who, from which photo, by which model, and its embedding."""

    name: str
    photo: str
    model: str
    vector: list[float] | None = None
    sha256: str | None = None

    @property
    def id(self) -> str:
        return point_id(self.name, self.photo)

    def payload(self) -> dict:
        payload = {"name": self.name, "photo": self.photo, "model": self.model}
        if self.sha256:
            payload["sha256"] = self.sha256
        return payload

    def values(self) -> list[float]:
        """The vector to write (a face read without its vector has none)."""
        if self.vector is None:
            raise GalleryError(f"{self.name} / {self.photo}: no vector to store", code="no_vector")
        return [float(v) for v in self.vector]

    @classmethod
    def from_payload(cls, payload: dict, vector: object = None) -> Face:
        """`vector`: the point's vector as the store gives it (the gallery's points hold one plain vector)."""
        if vector is not None and not isinstance(vector, Sequence):
            raise GalleryError(f"{payload.get('name')} / {payload.get('photo')}: not a plain vector", code="bad_point")
        return cls(name=payload["name"], photo=payload["photo"], model=payload["model"],
                   vector=None if vector is None else [float(v) for v in vector], sha256=payload.get("sha256"))


@dataclass(frozen=True)
class Hit:
    """A person a search found: the score of their closest stored photo, and that photo."""

    name: str
    score: float  # cosine similarity
    photo: str


def one_per_person(hits: Iterable[Hit], top_k: int) -> list[Hit]:
    """The hits best first, keeping each person's best only."""
    best: dict[str, Hit] = {}
    for hit in sorted(hits, key=lambda hit: -hit.score):
        best.setdefault(hit.name, hit)
    return list(best.values())[:top_k]


class GalleryStore(ABC):
    """What the Gallery needs from a vector store; `open_store` picks the back-end."""

    location: str
    embedded: bool

    # reading
    @abstractmethod
    def collections(self) -> list[str]: ...

    @abstractmethod
    def count(self, collection: str, name: str | None = None) -> int: ...

    @abstractmethod
    def names(self, collection: str) -> dict[str, int]:
        """Each person's number of stored points, from the name index (no point is read)."""

    @abstractmethod
    def faces(self, collection: str, with_vectors: bool = False) -> Iterator[Face]:
        """Every stored face, page by page."""

    @abstractmethod
    def dimension(self, collection: str) -> int | None:
        """The collection's vector size; None if it does not exist."""

    @abstractmethod
    def stored(self, collection: str, ids: Sequence[str]) -> dict[str, Face]:
        """The faces among `ids` that are stored, by id (no vectors)."""

    @abstractmethod
    def search(self, collection: str, vector: Sequence[float], top_k: int) -> list[Hit]:
        """The `top_k` closest people, one hit per person, best first."""

    def points(self, collection: str) -> Iterator[dict]:
        """Every point's payload."""
        for face in self.faces(collection):
            yield face.payload()

    def model_of(self, collection: str) -> str | None:
        return next((face.model for face in self.faces(collection)), None)

    # writing
    def ensure(self, collection: str, dim: int) -> None:
        """Creates the collection, or checks that it holds `dim`-d vectors."""
        size = self.dimension(collection)
        if size is None:
            self.create(collection, dim)
        elif size != dim:
            raise GalleryError(f"collection {collection} holds {size}-d vectors, got {dim}-d",
                               code="dimension_mismatch")

    @abstractmethod
    def create(self, collection: str, dim: int) -> None:
        """A new, empty collection of `dim`-d vectors (cosine)."""

    @abstractmethod
    def put(self, collection: str, faces: Sequence[Face]) -> None:
        """Upserts the faces (their id: person + photo name), durably."""

    @abstractmethod
    def delete_person(self, name: str, collections: Iterable[str] | None = None) -> int:
        """Deletes every embedding of `name`; returns how many there were."""

    @abstractmethod
    def drop(self, collection: str) -> None: ...

    def add(self, collection: str, name: str, model: str, photos: Sequence[str],
            vectors: Sequence[Sequence[float]], hashes: Sequence[str | None] | None = None) -> None:
        hashes = hashes or [None] * len(photos)
        self.put(collection, [Face(name, photo, model, [float(v) for v in vector], sha256)
                              for photo, vector, sha256 in zip(photos, vectors, hashes, strict=False)])

    def drop_empty(self, keep: str | None = None) -> None:
        for collection in self.collections():
            if collection != keep and self.count(collection) == 0:
                self.drop(collection)

    @abstractmethod
    def wipe(self) -> None:
        """Makes deletions final in the store's files (the embedded store rewrites them)."""

    @abstractmethod
    def optimize(self) -> None:
        """Builds what searches need at scale (the embedded store's HNSW index)."""

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> GalleryStore:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
