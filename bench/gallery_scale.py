"""`make gallery-bench`: the gallery's vector store at 10k, 100k and 1M faces, and 1:N
identification with distractors. Writes reports/gallery_scale.json and a plot.

Vectors: the real embeddings of every face of the cache (`make data`; the served weights
through the serving engine and settings of handler/model-config.yaml), then seeded synthetic
unit vectors beyond them (`vectors.real` / `vectors.synthetic` per row say how many of each).
Queries: 1,000 real faces held out of the store (top-5, one at a time, through the gallery's
own search). recall@1: the person of the store's first hit is the person of the exact
(brute-force) nearest point; `recall_at_1_enrolled`: the same over the queries whose person
has a photo in the store (the searches that should name someone). The others' nearest point
is a stranger, synthetic or real, among near ties: whichever comes first, it scores below
the gallery's threshold and the answer is "unknown" either way.

Per back-end and N, in its own process (peak RSS is the run's own): insert (batches of
1,000 points, each flushed; for Edge it includes the HNSW build of every full segment, which
the store runs while writing), index (Edge: the optimizer's HNSW build of the rest; local
mode has none); then the store is closed and timed as a gallery is used, built by one
process and searched by the next that opens it, once the build's writes are on disk (sync):
reopen (open + count + first search), query p50/p95, recall@1, disk. Edge is queried after
1,000 searches for stored faces (`first_searches_p95_ms`: those, while the index is read in),
as a store that has been serving is; `ef_sweep`: the same queries at other search ef, each on
the store opened again with that setting (EdgeSettings) and searched those 1,000 times first.
Qdrant-client local mode (the earlier embedded store, brute force, loaded whole into memory)
is measured only up to --local-sizes (20k: where qdrant-client itself warns), and above 10k
with 200 queries (each takes about a second).

Distractors (MegaFace-style): LFW peopleDevTest people with >= 2 photos enrolled with their
first photo, their other photos searched; the one-photo people are never enrolled (unknown
rejection); every other face of the cache (not peopleDevTest) is a distractor enrolled under
its own identity. Threshold: the gallery's default for the gallery's size
(client.gallery.threshold, the weights' far_thresholds). Reported from 0 distractors to all.

Resumable: every finished run is kept in --work (runs/gallery_scale); run again to continue.

    python -m bench.gallery_scale [--sizes 10000 100000 1000000] [--lock /tmp/heavy.lock]
"""
from __future__ import annotations

import argparse
import os
import sys

if __name__ == "__main__":  # the 2-core budget, before numpy / the engines load their pools
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "2")

import contextlib
import fcntl
import json
import resource
import shutil
import subprocess
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from client.gallery.edge_settings import EdgeSettings

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "runs" / "gallery_scale"
REPORT = REPO / "reports" / "gallery_scale.json"
PLOT = REPO / "reports" / "plots" / "gallery_scale.png"
SIZES = (10_000, 100_000, 1_000_000)
LOCAL_MAX = 20_000  # qdrant-client warns above 20,000 points in local mode
QUERIES = 1_000
LOCAL_QUERIES = 200  # local mode above 10k: a grouped query takes about a second here
TOP_K = 5
BATCH = 1_000
SEED = 0
BACKENDS = ("edge", "local")
EDGE = EdgeSettings()  # the embedded store as a gallery opens it by default


# ---------------------------------------------------------------------- real embeddings

def embed_cache(cache_dir: Path, work: Path) -> Path:
    """Every cache face through the served network, once (kept in work/embeddings.npz)."""
    out = work / "embeddings.npz"
    if out.exists():
        return out
    import yaml

    from data.manifest import load_crops, read_manifest
    from handler.protocol import Settings
    from model.embedder import ModelFacts, load_backbone
    from model.onnx_embedder import engine_embedder

    rows = read_manifest(cache_dir / "manifest.csv")
    settings = Settings.load(yaml.safe_load((REPO / "handler" / "model-config.yaml").read_text()))
    backbone, meta = load_backbone(REPO / "weights" / "face_embedder.pt")
    flip = ModelFacts.of(meta, backbone.state_dict()).flip  # as the server embeds: the weights say
    embedder = engine_embedder(backbone, settings.engine, 2, settings.precision, flip=flip, batch_size=64)
    vectors = []
    for start in tqdm(range(0, len(rows), 512), desc="embed cache faces", unit="batch"):
        crops = load_crops(cache_dir, [r["file"] for r in rows[start:start + 512]], progress=False)
        vectors.append(np.asarray(embedder.embed(crops), dtype=np.float32))
    work.mkdir(parents=True, exist_ok=True)
    np.savez(out, vectors=np.concatenate(vectors), identity=[r["identity"] for r in rows],
             split=[r["split"] for r in rows], files=[r["file"] for r in rows],
             meta=json.dumps({k: meta.get(k) for k in ("version", "threshold", "far_thresholds")}),
             engine=json.dumps({"engine": settings.engine, "precision": settings.precision, "flip": flip}))
    return out


def load_real(work: Path) -> dict:
    data = np.load(work / "embeddings.npz")
    return {"vectors": data["vectors"], "identity": data["identity"].tolist(), "split": data["split"].tolist(),
            "meta": json.loads(str(data["meta"])), "engine": json.loads(str(data["engine"]))}


def unit(rng: np.random.Generator, n: int, dim: int) -> np.ndarray:
    vectors = rng.standard_normal((n, dim), dtype=np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


# ---------------------------------------------------------------------- one store run

def open_backend(backend: str, folder: Path, settings: EdgeSettings = EDGE):
    if backend == "edge":
        from client.gallery.edge_store import EdgeStore

        return EdgeStore(folder, settings)
    from qdrant_client import QdrantClient

    from client.gallery.server_store import ServerStore

    return ServerStore(str(folder), client=QdrantClient(path=str(folder)))


def batches(real: dict, keep: np.ndarray, n: int):
    """(names, vectors) batches: the kept real faces first, then synthetic unit vectors."""
    vectors, names = real["vectors"][keep], [real["identity"][i] for i in keep]
    dim, done = vectors.shape[1], 0
    rng = np.random.default_rng(SEED)
    while done < n:
        size = min(BATCH, n - done)
        if done < len(vectors):
            size = min(size, len(vectors) - done)
            yield names[done:done + size], vectors[done:done + size]
        else:
            yield [f"synthetic_{done + i}" for i in range(size)], unit(rng, size, dim)
        done += size


def folder_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def ef_sweep(folder: Path, collection: str, warm_up: np.ndarray, queries: np.ndarray, exact: list[str],
             enrolled: np.ndarray) -> dict:
    """The Edge store's search at other `ef` (candidates explored): recall@1 and p95 per value,
    each on the store opened with that setting and searched first as the main run's is."""
    found = {}
    for ef in (EDGE.search_ef // 2, EDGE.search_ef * 2 // 3, EDGE.search_ef * 4 // 3):
        with open_backend("edge", folder, replace(EDGE, search_ef=ef)) as store:
            for vector in warm_up:
                store.search(collection, vector.tolist(), TOP_K)
            latencies, right = [], []
            for q, vector in enumerate(queries):
                start = time.perf_counter()
                hits = store.search(collection, vector.tolist(), TOP_K)
                latencies.append(time.perf_counter() - start)
                right.append(bool(hits) and hits[0].name == exact[q])
        right = np.array(right)
        found[str(ef)] = {"recall_at_1": round(float(right.mean()), 4),
                          "recall_at_1_enrolled": round(float(right[enrolled].mean()), 4),
                          "query_p95_ms": round(1000 * float(np.percentile(latencies, 95)), 3)}
    return found


def one_run(backend: str, n: int, work: Path) -> dict:
    from client.gallery.store import Face

    real = load_real(work)
    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(real["vectors"]))
    queries, keep = order[:QUERIES], order[QUERIES:]
    query_vectors = real["vectors"][queries]
    query_vectors = query_vectors / np.linalg.norm(query_vectors, axis=1, keepdims=True)
    folder = work / f"store_{backend}_{n}"
    shutil.rmtree(folder, ignore_errors=True)
    collection, model = "faces-bench", "bench"
    best_score = np.full(QUERIES, -2.0, dtype=np.float32)
    best_name = [""] * QUERIES
    stored_people = {real["identity"][i] for i in keep[:n]}
    enrolled = np.array([real["identity"][i] in stored_people for i in queries])
    store = open_backend(backend, folder)
    store.ensure(collection, query_vectors.shape[1])
    insert_s, done = 0.0, 0
    with tqdm(total=n, desc=f"{backend} insert", unit="pt", unit_scale=True) as bar:
        for names, vectors in batches(real, keep, n):
            faces = [Face(name, f"{done + i}.jpg", model, vector.tolist()) for i, (name, vector)
                     in enumerate(zip(names, vectors, strict=False))]
            start = time.perf_counter()
            store.put(collection, faces)
            insert_s += time.perf_counter() - start
            scores = query_vectors @ (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).T  # exact search
            top = scores.argmax(axis=1)
            better = scores[np.arange(QUERIES), top] > best_score
            for q in np.flatnonzero(better):
                best_score[q], best_name[q] = scores[q, top[q]], names[top[q]]
            done += len(names)
            bar.update(len(names))
    start = time.perf_counter()
    store.optimize()
    index_s = time.perf_counter() - start
    store.close()
    os.sync()  # reopen and searches are timed on a store at rest, not during the build's writeback
    # As a gallery is used: built by one process, searched by the next that opens it.
    start = time.perf_counter()
    store = open_backend(backend, folder)
    count = store.count(collection)
    store.search(collection, query_vectors[0].tolist(), TOP_K)
    reopen_s = time.perf_counter() - start
    # The first searches after opening read the index in; a serving store has done that long
    # before. 1,000 searches for other (stored) faces first, timed on their own.
    warm_up = real["vectors"][keep[:min(QUERIES, n)]] if backend == "edge" else []
    first = []
    for vector in tqdm(warm_up, desc=f"{backend} first searches", unit="q"):
        start = time.perf_counter()
        store.search(collection, vector.tolist(), TOP_K)
        first.append(time.perf_counter() - start)
    latencies, right = [], []
    searched = QUERIES if backend == "edge" or n <= 10_000 else LOCAL_QUERIES
    for q, vector in enumerate(tqdm(query_vectors[:searched], desc=f"{backend} query", unit="q")):
        start = time.perf_counter()
        hits = store.search(collection, vector.tolist(), TOP_K)
        latencies.append(time.perf_counter() - start)
        right.append(bool(hits) and hits[0].name == best_name[q])
    right, enrolled = np.array(right), enrolled[:searched]
    store.close()
    sweep = ef_sweep(folder, collection, warm_up, query_vectors, best_name, enrolled) if backend == "edge" else None
    assert count == n, f"stored {count} of {n} points"
    real_n = min(n, len(keep))
    row = {"n": n, "backend": backend, "insert_s": round(insert_s, 2), "index_s": round(index_s, 2),
           "query_p50_ms": round(1000 * float(np.percentile(latencies, 50)), 3),
           "query_p95_ms": round(1000 * float(np.percentile(latencies, 95)), 3),
           "recall_at_1": round(float(right.mean()), 4),
           "recall_at_1_enrolled": round(float(right[enrolled].mean()), 4), "queries": searched,
           "queries_enrolled": int(enrolled.sum()),
           "rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
           "disk_mb": round(folder_mb(folder), 1), "reopen_s": round(reopen_s, 3),
           "vectors": {"real": real_n, "synthetic": n - real_n}}
    if sweep:
        row["ef_sweep"] = sweep
        row["first_searches_p95_ms"] = round(1000 * float(np.percentile(first, 95)), 3)
    shutil.rmtree(folder, ignore_errors=True)
    return row


# ---------------------------------------------------------------------- distractors

def distractors(work: Path, steps: list[int | None]) -> dict:
    """Top-1 and unknown rejection on LFW peopleDevTest as distractors are added."""
    from client.gallery.edge_store import EdgeStore
    from client.gallery.store import Face
    from client.gallery.threshold import search_threshold
    from client.models import EmbeddingResult

    real = load_real(work)
    meta = real["meta"]
    answer = EmbeddingResult(model=meta["version"], faces=[], threshold=meta["threshold"],
                             far_thresholds=meta["far_thresholds"])
    vectors, identity, split = real["vectors"], real["identity"], real["split"]
    devtest: dict[str, list[int]] = {}
    for i, s in enumerate(split):
        if s == "devtest":
            devtest.setdefault(identity[i], []).append(i)
    enrolled = {name: rows for name, rows in devtest.items() if len(rows) >= 2}
    strangers = [rows[0] for rows in devtest.values() if len(rows) == 1]
    probes = [(name, i) for name, rows in enrolled.items() for i in rows[1:]]
    pool = np.random.default_rng(SEED).permutation([i for i, s in enumerate(split) if s != "devtest"])
    results = []
    for step in steps:
        count = len(pool) if step is None else min(step, len(pool))
        folder = work / "store_distractors"
        shutil.rmtree(folder, ignore_errors=True)
        with EdgeStore(folder, EDGE) as store:
            store.ensure("faces-bench", vectors.shape[1])
            store.put("faces-bench", [Face(name, "enrolled.jpg", "bench", vectors[rows[0]].tolist())
                                      for name, rows in enrolled.items()])
            store.put("faces-bench", [Face(f"distractor_{i}", "distractor.jpg", "bench", vectors[i].tolist())
                                      for i in pool[:count]])
            store.optimize()
            size = store.count("faces-bench")
            threshold = search_threshold(answer, size)
            top1 = identified = 0
            for name, i in probes:
                hit = store.search("faces-bench", vectors[i].tolist(), 1)[0]
                top1 += hit.name == name
                identified += hit.name == name and hit.score >= threshold
            rejected = sum(store.search("faces-bench", vectors[i].tolist(), 1)[0].score < threshold
                           for i in strangers)
        shutil.rmtree(folder, ignore_errors=True)
        row = {"distractors": int(count), "gallery_embeddings": size, "threshold": threshold,
               "top1_accuracy": round(top1 / len(probes), 4), "identified_accuracy": round(identified / len(probes), 4),
               "unknown_rejection": round(rejected / len(strangers), 4)}
        print(json.dumps(row), flush=True)
        results.append(row)
    return {"data": "LFW peopleDevTest (cache faces, served weights)", "enrolled_people": len(enrolled),
            "probes": len(probes), "strangers": len(strangers),
            "distractor_source": "every cache face outside peopleDevTest (LFW peopleDevTrain + calibration, "
                                 "CelebA), each its own identity", "false_identification_rate": 0.01,
            "results": results}


# ---------------------------------------------------------------------- report

@contextlib.contextmanager
def exclusive(lock: Path | None):
    """Holds `lock` (flock) for one measured step, so other heavy jobs run only between steps."""
    if lock is None:
        yield
        return
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    for backend in BACKENDS:
        rows = sorted((r for r in report["results"] if r["backend"] == backend), key=lambda r: r["n"])
        if not rows:
            continue
        ns = [r["n"] for r in rows]
        axes[0].plot(ns, [r["insert_s"] + r["index_s"] for r in rows], "o-", label=backend)
        axes[1].plot(ns, [r["query_p95_ms"] for r in rows], "o-", label=backend)
        axes[2].plot(ns, [r["reopen_s"] for r in rows], "o-", label=backend)
    for ax, target in zip(axes, (1200, 10, 5), strict=False):  # the 1M targets: 20 min, 10 ms, 5 s
        ax.axhline(target, color="grey", linestyle="--", linewidth=1, label="target at 1M")
    for ax, title in zip(axes, ("insert + index (s)", "query p95 (ms, top-5)", "reopen (s)"), strict=False):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("points")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("Gallery store at scale (2 CPU cores): Qdrant Edge vs qdrant-client local mode")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--local-sizes", type=int, nargs="*", default=[10_000, LOCAL_MAX])
    parser.add_argument("--distractor-steps", type=int, nargs="*", default=[0, 1000, 4000],
                        help="distractor counts measured before all of them")
    parser.add_argument("--cache-dir", type=Path, default=REPO / "cache")
    parser.add_argument("--work", type=Path, default=WORK)
    parser.add_argument("--out", type=Path, default=REPORT)
    parser.add_argument("--plot", type=Path, default=PLOT)
    parser.add_argument("--lock", type=Path, default=None,
                        help="a lock file held during each measured step (a machine shared with other jobs)")
    parser.add_argument("--one", nargs=2, metavar=("BACKEND", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        row = one_run(args.one[0], int(args.one[1]), args.work)
        (args.work / f"result_{args.one[0]}_{args.one[1]}.json").write_text(json.dumps(row) + "\n")
        return 0
    if not (args.cache_dir / "manifest.csv").exists():
        print(f"{args.cache_dir}/manifest.csv is missing: run `make data` first", file=sys.stderr)
        return 2
    with exclusive(args.lock):
        embed_cache(args.cache_dir, args.work)
    runs = [("edge", n) for n in sorted(args.sizes)] + [("local", n) for n in args.local_sizes]
    cached = args.work / "distractors.json"
    with exclusive(args.lock):  # the runs back to back: one figure table from one quiet stretch
        if not cached.exists():
            cached.write_text(json.dumps(distractors(args.work, [*args.distractor_steps, None])) + "\n")
        write_report(args, argv, runs)
        for backend, n in runs:
            done = args.work / f"result_{backend}_{n}.json"
            if not done.exists():
                subprocess.run([sys.executable, "-m", "bench.gallery_scale", "--one", backend, str(n),
                                "--work", str(args.work)], cwd=REPO, check=True)
            print(done.read_text(), end="", flush=True)
            write_report(args, argv, runs)  # after every run: an interrupted bench still reports
    print(f"wrote {args.out} and {args.plot}", file=sys.stderr)
    return 0


def edge_settings(settings: EdgeSettings = EDGE) -> str:
    placement = "in RAM" if settings.memory == "pinned" else f"kept {settings.memory}"
    return (f"HNSW m={settings.hnsw_m} ef_construct={settings.hnsw_ef_construct} per segment of at most "
            f"{settings.segment_points:,} points (searched in parallel), int8 scalar quantization, graph and payloads "
            f"{placement}, search ef={settings.search_ef}, {settings.oversampling:g}x candidates rescored with the "
            f"float vectors, {settings.points_per_person} points asked per person wanted")


def write_report(args: argparse.Namespace, argv: list[str] | None, runs: list[tuple[str, int]]) -> None:
    """reports/gallery_scale.json + the plot from the runs finished so far (`missing`: the others)."""
    rows, missing = [], []
    for backend, n in runs:
        done = args.work / f"result_{backend}_{n}.json"
        if done.exists():
            rows.append(json.loads(done.read_text()))
        else:
            missing.append({"backend": backend, "n": n})
    real = load_real(args.work)
    report = {"command": "python -m bench.gallery_scale " + " ".join(sys.argv[1:] if argv is None else argv),
              "date": datetime.now(UTC).strftime("%Y-%m-%d"), "cpus": os.cpu_count(),
              "backends": {"edge": f"Qdrant Edge (qdrant-edge-py), the embedded store: {edge_settings()}",
                           "local": "qdrant-client local mode (path=), the earlier embedded store: brute force, "
                                    "grouped query (query_points_groups)"},
              "vectors": {"real": f"{len(real['vectors'])} cache faces embedded with weights/face_embedder.pt "
                                  f"({real['meta']['version']}, {real['engine']})",
                          "synthetic": "seeded Gaussian unit vectors beyond the real ones",
                          "queries": f"{QUERIES} real faces held out of the store, top-{TOP_K}"},
              "results": rows, "missing": missing,
              "distractors": json.loads((args.work / "distractors.json").read_text())}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    plot(report, args.plot)


if __name__ == "__main__":
    sys.exit(main())
