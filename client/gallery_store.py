"""The gallery's vector store: Qdrant, embedded (a folder on disk, no server) or a server /
cluster at a URL, through the same calls.

One collection per model version (`faces-<hash of the version>`), cosine distance, one point
per enrolled photo with payload {name, photo, model}. Embeddings of two model versions
therefore never meet in one search, and a collection's dimension is whatever that model
gives. Embedded stores are kept owner-only (folder 700, files 600), and deleted rows are
wiped from the SQLite files (VACUUM), not only unlinked.
"""
from __future__ import annotations

import hashlib
import os
import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from pathlib import Path

from qdrant_client import QdrantClient, models

from .gallery_errors import GalleryError

PREFIX = "faces-"
API_KEY_ENV = "QDRANT_API_KEY"
POINT_NAMESPACE = uuid.UUID("6f1c1c52-5f0e-4f55-9d3c-4a0c7f2f8b1e")
SCROLL_PAGE = 1000


def is_url(location: str | os.PathLike) -> bool:
    return str(location).startswith(("http://", "https://"))


def collection_for(model: str) -> str:
    return PREFIX + hashlib.sha256(model.encode("utf-8")).hexdigest()[:16]


def point_id(name: str, photo: str) -> str:
    """The same person and photo name always land on the same point (re-adding replaces it)."""
    return str(uuid.uuid5(POINT_NAMESPACE, f"{name}\x00{photo}"))


def by_name(name: str) -> models.Filter:
    return models.Filter(must=[models.FieldCondition(key="name", match=models.MatchValue(value=name))])


class FaceStore:
    def __init__(self, location: str | os.PathLike, *, shards: int | None = None) -> None:
        """location: a folder (embedded store, created owner-only) or an http(s) URL of a
        Qdrant server / cluster (API key from $QDRANT_API_KEY). shards: `shard_number` of
        collections created on a cluster."""
        self.location = str(location)
        self.embedded = not is_url(location)
        self.shards = shards
        if self.embedded:
            self.path = Path(location).expanduser()
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.path.chmod(0o700)
        self._client = self._connect()
        self.secure()  # the lock and meta files the client just wrote

    def _connect(self) -> QdrantClient:
        try:
            if self.embedded:
                return QdrantClient(path=str(self.path))
            return QdrantClient(url=self.location, api_key=os.environ.get(API_KEY_ENV) or None)
        except RuntimeError as exc:  # the folder is locked by another process
            raise GalleryError(f"cannot open the gallery at {self.location}: {exc}",
                               code="store_unavailable") from exc

    # ------------------------------------------------------------------ reading

    def collections(self) -> list[str]:
        return sorted(c.name for c in self._client.get_collections().collections if c.name.startswith(PREFIX))

    def count(self, collection: str, name: str | None = None) -> int:
        return self._client.count(collection, count_filter=by_name(name) if name else None, exact=True).count

    def points(self, collection: str) -> Iterable[dict]:
        """Every point's payload."""
        offset = None
        while True:
            page, offset = self._client.scroll(collection, limit=SCROLL_PAGE, offset=offset,
                                               with_payload=True, with_vectors=False)
            for point in page:
                yield dict(point.payload or {})
            if offset is None:
                return

    def model_of(self, collection: str) -> str | None:
        page, _ = self._client.scroll(collection, limit=1, with_payload=True, with_vectors=False)
        return page[0].payload.get("model") if page else None

    def search(self, collection: str, vector: Sequence[float], top_k: int) -> list[tuple[str, float, str]]:
        """(name, score, photo) of the `top_k` closest people, one hit per person, best first."""
        groups = self._client.query_points_groups(
            collection, query=list(vector), group_by="name", limit=top_k, group_size=1,
            with_payload=True).groups
        hits = [(group.hits[0].payload["name"], float(group.hits[0].score), group.hits[0].payload["photo"])
                for group in groups if group.hits]
        return sorted(hits, key=lambda hit: -hit[1])

    # ------------------------------------------------------------------ writing

    def ensure(self, collection: str, dim: int) -> None:
        if self._client.collection_exists(collection):
            size = self._client.get_collection(collection).config.params.vectors.size
            if size != dim:
                raise GalleryError(f"collection {collection} holds {size}-d vectors, got {dim}-d",
                                   code="dimension_mismatch")
            return
        extra = {} if self.embedded else {"shard_number": self.shards}
        self._client.create_collection(collection, vectors_config=models.VectorParams(
            size=dim, distance=models.Distance.COSINE), **extra)
        if not self.embedded:  # grouping and deleting by name use it on a server
            self._client.create_payload_index(collection, "name", models.PayloadSchemaType.KEYWORD)
        self.secure()

    def add(self, collection: str, name: str, model: str, photos: Sequence[str],
            vectors: Sequence[Sequence[float]]) -> None:
        points = [models.PointStruct(id=point_id(name, photo), vector=list(vector),
                                     payload={"name": name, "photo": photo, "model": model})
                  for photo, vector in zip(photos, vectors)]
        self._client.upsert(collection, points=points, wait=True)
        self.secure()

    def delete_person(self, name: str, collections: Iterable[str] | None = None) -> int:
        """Deletes every embedding of `name`; returns how many there were."""
        deleted = 0
        for collection in list(collections if collections is not None else self.collections()):
            found = self.count(collection, name)
            if found:
                self._client.delete(collection, points_selector=models.FilterSelector(filter=by_name(name)),
                                    wait=True)
                deleted += found
        return deleted

    def drop_empty(self, keep: str | None = None) -> None:
        for collection in self.collections():
            if collection != keep and self.count(collection) == 0:
                self._client.delete_collection(collection)

    def wipe(self) -> None:
        """Makes deletions final on disk: an embedded store's SQLite files keep deleted rows
        in free pages until VACUUM rewrites them. A server does its own compaction."""
        if not self.embedded:
            return
        self._client.close()
        for database in self.path.glob("collection/*/storage.sqlite"):
            connection = sqlite3.connect(database)
            try:
                connection.execute("VACUUM")
            finally:
                connection.close()
        self._client = self._connect()
        self.secure()

    def secure(self) -> None:
        """Owner-only: the folder tree 700, every file 600."""
        if not self.embedded:
            return
        for root, folders, files in os.walk(self.path):
            os.chmod(root, 0o700)
            for folder in folders:
                os.chmod(os.path.join(root, folder), 0o700)
            for file in files:
                os.chmod(os.path.join(root, file), 0o600)

    def close(self) -> None:
        self._client.close()
