"""A Qdrant server or cluster at a URL, through qdrant-client: the same layout as the embedded
store (collection = model version, same payload, one hit per person). The API key comes from
$QDRANT_API_KEY. Grouping and deleting by name use a keyword index on `name`; the server
indexes (HNSW) and compacts deleted points itself."""
from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence

from qdrant_client import QdrantClient, models

from .errors import GalleryError
from .store import PAGE, PREFIX, Face, GalleryStore, Hit

API_KEY_ENV = "QDRANT_API_KEY"


def by_name(name: str) -> models.Filter:
    return models.Filter(must=[models.FieldCondition(key="name", match=models.MatchValue(value=name))])


class ServerStore(GalleryStore):
    embedded = False

    def __init__(self, url: str, *, shards: int | None = None, client: QdrantClient | None = None) -> None:
        """client: an already connected QdrantClient (tests pass one)."""
        self.location = url
        self.shards = shards
        try:
            self._client = client or QdrantClient(url=url, api_key=os.environ.get(API_KEY_ENV) or None)
        except (RuntimeError, ValueError) as exc:
            raise GalleryError(f"cannot open the gallery at {url}: {exc}", code="store_unavailable") from exc

    def collections(self) -> list[str]:
        return sorted(c.name for c in self._client.get_collections().collections if c.name.startswith(PREFIX))

    def dimension(self, collection: str) -> int | None:
        if not self._client.collection_exists(collection):
            return None
        vectors = self._client.get_collection(collection).config.params.vectors
        if not isinstance(vectors, models.VectorParams):  # a gallery collection holds one unnamed vector
            raise GalleryError(f"{collection} at {self.location} is not a gallery collection", code="no_collection")
        return int(vectors.size)

    def count(self, collection: str, name: str | None = None) -> int:
        return self._client.count(collection, count_filter=by_name(name) if name else None, exact=True).count

    def names(self, collection: str) -> dict[str, int]:
        limit = max(1, self.count(collection))  # no more names than points
        facets = self._client.facet(collection, "name", limit=limit, exact=True)
        return {str(hit.value): hit.count for hit in facets.hits}

    def faces(self, collection: str, with_vectors: bool = False) -> Iterator[Face]:
        offset = None
        while True:
            page, offset = self._client.scroll(collection, limit=PAGE, offset=offset,
                                               with_payload=True, with_vectors=with_vectors)
            for point in page:
                yield Face.from_payload(dict(point.payload or {}), point.vector if with_vectors else None)
            if offset is None:
                return

    def stored(self, collection: str, ids: Sequence[str]) -> dict[str, Face]:
        if not ids or not self._client.collection_exists(collection):
            return {}
        records = self._client.retrieve(collection, ids=list(ids), with_payload=True, with_vectors=False)
        return {str(r.id): Face.from_payload(dict(r.payload or {})) for r in records}

    def search(self, collection: str, vector: Sequence[float], top_k: int) -> list[Hit]:
        groups = self._client.query_points_groups(
            collection, query=[float(v) for v in vector], group_by="name", limit=top_k, group_size=1,
            with_payload=True).groups
        best = [group.hits[0] for group in groups if group.hits]
        hits = [Hit(str((point.payload or {})["name"]), float(point.score), str((point.payload or {})["photo"]))
                for point in best]
        return sorted(hits, key=lambda hit: -hit.score)

    def create(self, collection: str, dim: int) -> None:
        self._client.create_collection(collection, vectors_config=models.VectorParams(
            size=dim, distance=models.Distance.COSINE), shard_number=self.shards)
        self._client.create_payload_index(collection, "name", models.PayloadSchemaType.KEYWORD)

    def put(self, collection: str, faces: Sequence[Face]) -> None:
        for start in range(0, len(faces), PAGE):
            points = [models.PointStruct(id=face.id, vector=face.values(), payload=face.payload())
                      for face in faces[start:start + PAGE]]
            self._client.upsert(collection, points=points, wait=True)

    def delete_person(self, name: str, collections: Iterable[str] | None = None) -> int:
        deleted = 0
        for collection in list(collections if collections is not None else self.collections()):
            found = self.count(collection, name)
            if found:
                self._client.delete(collection, points_selector=models.FilterSelector(filter=by_name(name)),
                                    wait=True)
                deleted += found
        return deleted

    def drop(self, collection: str) -> None:
        self._client.delete_collection(collection)

    def wipe(self) -> None:
        """Nothing to do: the server compacts deleted points itself."""

    def optimize(self) -> None:
        """Nothing to do: the server builds its index itself."""

    def close(self) -> None:
        self._client.close()
