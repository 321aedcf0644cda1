"""Embedded vector stores compared for the gallery: Qdrant local mode vs Milvus Lite.

For each gallery size: insert N random unit vectors (dim 128, one `name` payload each),
close and reopen the store (what a new CLI call pays), then time single-vector top-k
queries (median, p95), and record the store's size on disk. Install size is the
packages' own size in site-packages (what `pip install` adds on top of numpy).

    python -m bench.gallery_store --sizes 10000 1000000 --out reports/gallery_store.json

A store whose packages are not installed is skipped (install the other one in a scratch
venv to compare: `pip install qdrant-client==1.20.0` / `pip install pymilvus==3.0.2
milvus-lite==3.2.2`). Run on an otherwise idle machine; the threads are capped to
`--threads` (default 2) through the usual BLAS/OpenMP variables before anything loads.
"""
from __future__ import annotations

import argparse
import os
import sys

if __name__ == "__main__":  # before numpy / faiss load their thread pools
    _threads = "2"
    for i, arg in enumerate(sys.argv):
        if arg == "--threads" and i + 1 < len(sys.argv):
            _threads = sys.argv[i + 1]
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, _threads)

import importlib.metadata
import json
import platform
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

DIM = 128
BATCH = 10_000
COLLECTION = "faces"
PACKAGES = {"qdrant": ["qdrant-client"], "milvus": ["pymilvus", "milvus-lite"]}


def unit_vectors(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.standard_normal((n, DIM), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def install_size(distributions: list[str]) -> int | None:
    """Bytes of the named distributions' files (not their shared dependencies)."""
    total = 0
    for name in distributions:
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            return None
        for file in dist.files or []:
            located = Path(dist.locate_file(file))
            if located.is_file():
                total += located.stat().st_size
    return total


class QdrantLocal:
    def __init__(self, path: Path) -> None:
        from qdrant_client import QdrantClient
        self.path = path
        self.client = QdrantClient(path=str(path))

    def create(self) -> None:
        from qdrant_client import models
        self.client.create_collection(COLLECTION, vectors_config=models.VectorParams(
            size=DIM, distance=models.Distance.COSINE))

    def insert(self, start: int, vectors: np.ndarray) -> None:
        self.client.upload_collection(COLLECTION, vectors=vectors,
                                      payload=[{"name": f"p{start + i}"} for i in range(len(vectors))],
                                      ids=list(range(start, start + len(vectors))), batch_size=1000)

    def flush(self) -> None:
        pass  # every upsert is written through to its SQLite file

    def search(self, vector: np.ndarray, k: int) -> list:
        return self.client.query_points(COLLECTION, query=vector.tolist(), limit=k).points

    def close(self) -> None:
        self.client.close()


class MilvusLite:
    def __init__(self, path: Path) -> None:
        from pymilvus import MilvusClient
        self.path = path
        self.client = MilvusClient(str(path / "gallery.db"))

    def create(self) -> None:
        from pymilvus import DataType
        schema = self.client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
        schema.add_field("name", DataType.VARCHAR, max_length=256)
        index = self.client.prepare_index_params()
        index.add_index("vector", index_type="HNSW", metric_type="COSINE", params={"M": 16, "efConstruction": 200})
        self.client.create_collection(COLLECTION, schema=schema, index_params=index)

    def insert(self, start: int, vectors: np.ndarray) -> None:
        self.client.insert(COLLECTION, [{"id": start + i, "vector": v, "name": f"p{start + i}"}
                                        for i, v in enumerate(vectors.tolist())])

    def flush(self) -> None:
        # Rows wait in a write-ahead log + memtable until flushed into indexed segments;
        # a memtable is searched row by row in Python.
        self.client.flush(COLLECTION)

    def search(self, vector: np.ndarray, k: int) -> list:
        return self.client.search(COLLECTION, data=[vector.tolist()], limit=k, output_fields=["name"],
                                  search_params={"metric_type": "COSINE", "params": {"ef": 64}})[0]

    def close(self) -> None:
        self.client.close()


STORES = {"qdrant": QdrantLocal, "milvus": MilvusLite}


def available(store: str) -> bool:
    return install_size(PACKAGES[store]) is not None


def measure(store: str, size: int, queries: int, k: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    folder = Path(tempfile.mkdtemp(prefix=f"gallery-{store}-"))
    try:
        db = STORES[store](folder)
        db.create()
        start = time.perf_counter()
        for offset in range(0, size, BATCH):
            db.insert(offset, unit_vectors(rng, min(BATCH, size - offset)))
        db.flush()
        insert_s = time.perf_counter() - start
        db.close()
        start = time.perf_counter()
        db = STORES[store](folder)
        probes = unit_vectors(rng, queries + 3)
        db.search(probes[0], k)  # the first query pays for loading the collection
        first_s = time.perf_counter() - start
        for probe in probes[1:3]:
            db.search(probe, k)
        times = []
        for probe in probes[3:]:
            t0 = time.perf_counter()
            hits = db.search(probe, k)
            times.append(time.perf_counter() - t0)
        assert len(hits) == k, f"{store} returned {len(hits)} of {k} hits"
        db.close()
        times.sort()
        return {"store": store, "size": size, "insert_s": round(insert_s, 2),
                "open_and_first_query_s": round(first_s, 3),
                "query_ms_median": round(1000 * statistics.median(times), 2),
                "query_ms_p95": round(1000 * times[int(0.95 * (len(times) - 1))], 2),
                "queries": len(times), "top_k": k, "disk_bytes": dir_size(folder)}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", nargs="+", default=list(STORES), choices=list(STORES))
    parser.add_argument("--sizes", nargs="+", type=int, default=[10_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--top-k", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="merge the results into this JSON file")
    args = parser.parse_args(argv)
    results = []
    for store in args.stores:
        if not available(store):
            print(f"{store}: {', '.join(PACKAGES[store])} not installed, skipped", file=sys.stderr)
            continue
        versions = {name: importlib.metadata.version(name) for name in PACKAGES[store]}
        for size in args.sizes:
            row = {**measure(store, size, args.queries, args.top_k, args.seed), "versions": versions,
                   "install_bytes": install_size(PACKAGES[store])}
            print(json.dumps(row), flush=True)
            results.append(row)
    if args.out:
        path = Path(args.out)
        previous = json.loads(path.read_text()) if path.is_file() else {}
        rows = [r for r in previous.get("results", [])
                if (r["store"], r["size"]) not in {(n["store"], n["size"]) for n in results}]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({
            "command": "python -m bench.gallery_store " + " ".join(argv if argv is not None else sys.argv[1:]),
            "machine": {"cpus": os.cpu_count(), "threads": args.threads, "python": platform.python_version()},
            "results": rows + results}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
