"""The embedded store: Qdrant Edge, the Qdrant engine as an in-process library (HNSW, payload
index, no server). The folder holds one Edge shard per model version, named like a server's
collection.

- Owner-only: the folder tree 700, every file 600, re-checked after each write.
- One process at a time: an exclusive lock on `<folder>/.gallery.lock` while open.
- Durable and crash-safe: the shards run without a write-ahead log and every write is flushed
  before it returns, so a write either is in the segment files or is not; a killed process
  leaves a store that opens. (A WAL would also keep a copy of every vector it ever saw.)
- `remove` really deletes: a deletion is followed by the optimizer's vacuum (any deleted
  point triggers it), which rewrites the segments without the deleted points.
- Searches at scale use HNSW over int8 (scalar-quantized) copies of the vectors, kept in RAM
  with the graph and the payloads: a quarter of the memory traffic per comparison, and the
  index builds several times faster. Pinned in RAM, they stay there when the kernel reclaims
  the page cache (at 1M points the files are larger than this machine's page cache kept).
  Each search takes `oversampling` times the points it needs from the quantized index and
  ranks them again with the float vectors, so scores are exact.
  `optimize()` builds the index of segments that outgrew the plain (brute-force) size; it
  runs after bulk writes and when a written store is closed, and during writes whenever
  `segment_points` new points await it. A large gallery is thus several indexed segments,
  searched in parallel on the engine's search threads.
  Every setting is a field of EdgeSettings (edge_settings.py), measured at 10k-1M points:
  reports/gallery_scale.json (`make gallery-bench`).
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from qdrant_edge import (
    CountRequest,
    Distance,
    EdgeConfig,
    EdgeOptimizersConfig,
    EdgeShard,
    EdgeVectorParams,
    FacetRequest,
    FieldCondition,
    Filter,
    HnswIndexConfig,
    KeywordIndexParams,
    MatchAny,
    MatchValue,
    Memory,
    Point,
    QuantizationSearchParams,
    Query,
    QueryRequest,
    ScalarQuantizationConfig,
    ScalarType,
    ScrollRequest,
    SearchParams,
    UpdateOperation,
)

from .edge_settings import EdgeSettings
from .errors import GalleryError
from .store import PAGE, PREFIX, Face, GalleryStore, Hit, one_per_person

LOCK = ".gallery.lock"
CONFIG = "edge_config.json"
MEMORY = {"pinned": Memory.Pinned, "cached": Memory.Cached, "cold": Memory.Cold}


def shard_config(dim: int, settings: EdgeSettings) -> EdgeConfig:
    memory = MEMORY[settings.memory]
    return EdgeConfig(
        vectors=EdgeVectorParams(size=dim, distance=Distance.Cosine),
        # what every search reads at random, by default pinned in RAM: the graph, the int8 vectors,
        # the payloads (names); the float vectors, read for the few points ranked again, stay on disk
        hnsw_config=HnswIndexConfig(m=settings.hnsw_m, ef_construct=settings.hnsw_ef_construct,
                                    full_scan_threshold=settings.full_scan_kb, memory=memory),
        quantization_config=ScalarQuantizationConfig(ScalarType.Int8, memory=memory),
        payload_memory=memory,
        # vacuum as soon as one point is deleted: a removed person leaves no trace in the files;
        # segments of segment_points are not merged again (a merge of two would be past the cap)
        optimizers=EdgeOptimizersConfig(deleted_threshold=0.0, vacuum_min_vector_number=1,
                                        max_segment_size=segment_kb(dim, settings.segment_points)),
        wal_enabled=False)


def segment_kb(dim: int, segment_points: int) -> int:
    """The largest segment's KB of float vectors: a fifth above `segment_points`."""
    return int(1.2 * segment_points * dim * 4 / 1024)


def search_params(limit: int, settings: EdgeSettings) -> SearchParams:
    return SearchParams(hnsw_ef=max(settings.search_ef, limit),
                        quantization=QuantizationSearchParams(rescore=True, oversampling=settings.oversampling))


def named(shard: EdgeShard, points: Sequence, top_k: int) -> list[Hit]:
    """The `top_k` best people among ranked points. Payloads are read for the first points only,
    as far as `top_k` people go: with a few hundred points ranked, reading every payload would
    cost more than the index search."""
    hits: list[Hit] = []
    read = 0
    while read < len(points):
        batch = points[read:read + max(2 * top_k, read)]  # each batch doubles what was read
        payloads = {str(r.id): r.payload or {} for r in shard.retrieve([p.id for p in batch], with_payload=True,
                                                                         with_vector=False)}
        hits += [Hit(payloads[str(p.id)]["name"], float(p.score), payloads[str(p.id)]["photo"])
                 for p in batch if str(p.id) in payloads]
        read += len(batch)
        people = one_per_person(hits, top_k)
        if len(people) >= top_k:
            return people
    return one_per_person(hits, top_k)


def by_name(name: str) -> Filter:
    return Filter(must=[FieldCondition(key="name", match=MatchValue(name))])


def without(names: list[str]) -> Filter | None:
    return Filter(must_not=[FieldCondition(key="name", match=MatchAny(names))]) if names else None


def secure(path: Path) -> None:
    """Owner-only: the folder tree 700, every file 600."""
    for root, folders, files in os.walk(path):
        os.chmod(root, 0o700)
        for folder in folders:
            os.chmod(os.path.join(root, folder), 0o700)
        for file in files:
            os.chmod(os.path.join(root, file), 0o600)


class EdgeStore(GalleryStore):
    embedded = True

    def __init__(self, location: str | os.PathLike, settings: EdgeSettings | None = None) -> None:
        """location: the folder (created owner-only). settings: index and search settings
        (default EdgeSettings(): the measured ones)."""
        self.location = str(location)
        self.settings = settings or EdgeSettings()
        self.path = Path(location).expanduser()
        self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path.chmod(0o700)
        self._lock = open(self.path / LOCK, "a+")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            raise GalleryError(f"cannot open the gallery at {self.location}: another process has it open",
                               code="store_unavailable") from None
        self._shards: dict[str, EdgeShard] = {}
        self._written = False
        self.migrated = 0
        from .local_migration import is_local_mode, migrate

        if is_local_mode(self.path):
            self.migrated = migrate(self.path, self)
        secure(self.path)

    # ------------------------------------------------------------------ shards

    def _shard(self, collection: str) -> EdgeShard:
        if collection not in self._shards:
            folder = self.path / collection
            if not (folder / CONFIG).is_file():
                raise GalleryError(f"no collection {collection} in {self.location}", code="no_collection")
            self._shards[collection] = EdgeShard.load(str(folder))
        return self._shards[collection]

    def collections(self) -> list[str]:
        return sorted(p.name for p in self.path.iterdir()
                      if p.name.startswith(PREFIX) and (p / CONFIG).is_file())

    def dimension(self, collection: str) -> int | None:
        config = self.path / collection / CONFIG
        if not config.is_file():
            return None
        return int(json.loads(config.read_text())["vectors"][""]["size"])

    # ------------------------------------------------------------------ reading

    def count(self, collection: str, name: str | None = None) -> int:
        return self._shard(collection).count(CountRequest(exact=True, filter=by_name(name) if name else None))

    def names(self, collection: str) -> dict[str, int]:
        shard = self._shard(collection)
        points = shard.count(CountRequest(exact=True))  # no more names than points
        facets = shard.facet(FacetRequest(key="name", limit=max(1, points), exact=True))
        return {str(hit.value): hit.count for hit in facets.hits if hit.count}  # deleted names stay, at 0

    def faces(self, collection: str, with_vectors: bool = False) -> Iterator[Face]:
        shard, offset = self._shard(collection), None
        while True:
            page, offset = shard.scroll(ScrollRequest(offset=offset, limit=PAGE, with_payload=True,
                                                      with_vector=with_vectors))
            for record in page:
                yield Face.from_payload(record.payload or {}, record.vector if with_vectors else None)
            if offset is None:
                return

    def stored(self, collection: str, ids: Sequence[str]) -> dict[str, Face]:
        if collection not in self.collections() or not ids:
            return {}
        records = self._shard(collection).retrieve(list(ids), with_payload=True, with_vector=False)
        return {str(r.id): Face.from_payload(r.payload or {}) for r in records}

    def search(self, collection: str, vector: Sequence[float], top_k: int) -> list[Hit]:
        """Asks for `points_per_person` points per person wanted. When they hold fewer than
        `top_k` people (one person's photos filled them), asks again without the people found,
        until `top_k` people are found or no points are left."""
        shard, limit = self._shard(collection), top_k * self.settings.points_per_person
        query = Query.Nearest([float(v) for v in vector])
        params = search_params(limit, self.settings)
        people: list[Hit] = []
        while True:
            found = [hit.name for hit in people]
            points = shard.query(QueryRequest(limit=limit, query=query, with_payload=False,
                                              filter=without(found), params=params))
            people += named(shard, points, top_k - len(people))
            if len(people) >= top_k or len(points) < limit:
                return one_per_person(people, top_k)

    # ------------------------------------------------------------------ writing

    def create(self, collection: str, dim: int) -> None:
        folder = self.path / collection
        if folder.exists():  # a creation interrupted before its config was written
            shutil.rmtree(folder)
        shard = EdgeShard.create(str(folder), shard_config(dim, self.settings))
        # on disk: only filters by name read it (count, remove, a search's second ask), and a
        # store opens faster without building it in RAM
        shard.update(UpdateOperation.create_field_index("name", KeywordIndexParams(on_disk=True)))
        shard.flush()
        self._shards[collection] = shard
        secure(folder)

    def put(self, collection: str, faces: Sequence[Face]) -> None:
        shard = self._shard(collection)
        for start in range(0, len(faces), PAGE):
            points = [Point(face.id, face.values(), face.payload())
                      for face in faces[start:start + PAGE]]
            shard.update(UpdateOperation.upsert_points(points))
            info = shard.info()
            if info.points_count - info.indexed_vectors_count >= self.settings.segment_points:
                shard.flush()
                shard.optimize()
        shard.flush()
        self._written = True
        secure(self.path / collection)

    def delete_person(self, name: str, collections: Iterable[str] | None = None) -> int:
        deleted = 0
        for collection in list(collections if collections is not None else self.collections()):
            found = self.count(collection, name)
            if found:
                shard = self._shard(collection)
                shard.update(UpdateOperation.delete_points_by_filter(by_name(name)))
                shard.flush()
                self._written = True
                deleted += found
        return deleted

    def drop(self, collection: str) -> None:
        shard = self._shards.pop(collection, None)
        if shard is not None:
            shard.close()
        shutil.rmtree(self.path / collection)

    def wipe(self) -> None:
        self.optimize()

    def optimize(self) -> None:
        """Runs the optimizers (index build, vacuum of deleted points) until none is planned."""
        for collection in self.collections():
            shard = self._shard(collection)
            if shard.optimize():
                shard.flush()
                secure(self.path / collection)

    def close(self) -> None:
        if self._lock.closed:
            return
        try:
            if self._written:
                self.optimize()
        finally:
            for shard in self._shards.values():
                shard.close()
            self._shards.clear()
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
