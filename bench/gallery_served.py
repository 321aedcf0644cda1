"""`make gallery-served-bench`: the served gallery (face-gallery in one TorchServe) against the
SDK's gallery opened in this process, on the same store and the same photos. Writes
reports/gallery_served.json.

Per gallery size N (default 10k and 1M faces):
- identify: one photo with one face, answered end to end: p50/p95 of one request at a time,
  then requests/s, p50/p95 and errors with `--clients` (8) clients for `--duration` seconds.
  Served: POST /predictions/face-gallery action=identify (the worker embeds and searches).
  In process: Gallery(folder, FaceClient).identify (face-embed over HTTP on the same server,
  then the search in this process), one Gallery shared by the clients' threads;
- enrolment: photos/s of enrolling `--people` LFW people (every photo of a person in one call)
  into an empty gallery: served (action=enroll) and in process (Gallery(folder).enroll).

The stores: built offline with the embedded store's own writer (client.gallery.edge_store,
the settings a gallery opens it with), as `make gallery-bench` builds its stores, in the
layout a gallery keeps: one collection for the served model's label, a point per photo named
by person and photo. The `make data` face cache is not needed: the real faces are the LFW
photos of the people used here (`--data-dir`/lfw/lfw-deepfunneled), embedded through the
started server's face-embed; the rest of each gallery are synthetic unit vectors around those
real embeddings (cosine `--synthetic-similarity` to a real face picked in turn), named
`synthetic_<n>`: strangers near real faces rather than uniformly spread noise. The query
photos are other photos of the enrolled people (their identity is checked: `identified`).

The server: one TorchServe (scripts.torchserve) with face-embed and face-gallery, the
repository's config.properties on free loopback ports, FACE_GALLERY_ROOT in `--work`. Each
store is first opened by this process (the in-process figures) and closed, then by the
server's gallery worker, which keeps it open (the embedded store admits one process).

    python -m bench.gallery_served [--sizes 10000 1000000] [--duration 30] [--clients 8]
    python -m bench.gallery_served --smoke --out /tmp/served.json   # seconds: checks it runs
"""
from __future__ import annotations

import argparse
import os
import sys

if __name__ == "__main__":  # the 2-core budget, before numpy / the engines load their pools
    for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(_var, "2")

import shutil
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import requests

from bench.target import machine_state, write_report
from report.results import GalleryServedReport, LatencySummary
from scripts.torchserve import TorchServe, model_archives, read_config, write_config

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "runs" / "gallery_served"
REPORT = REPO / "reports" / "gallery_served.json"
SIZES = (10_000, 1_000_000)
MODELS = ("face-embed", "face-gallery")  # face-verify is not used: not loaded
GALLERY_ROUTE = "/predictions/face-gallery"
BATCH = 1_000  # points per store write
SEED = 0
SMOKE = {"sizes": [1_000], "duration": 3.0, "repeats": 5, "people": 3, "queries": 2}


# ---------------------------------------------------------------------- photos

def lfw_people(people_dir: Path, people: int, photos_per_person: int, seed: int = SEED) -> dict[str, list[Path]]:
    """`people` people of `people_dir` (<Name>/*.jpg) with at least 2 photos, picked with a
    seeded shuffle, and up to `photos_per_person` of their photos each."""
    folders = sorted(p for p in people_dir.iterdir() if p.is_dir() and len(list(p.glob("*.jpg"))) >= 2)
    if len(folders) < people:
        raise SystemExit(f"{people_dir} has {len(folders)} people with 2 photos or more; {people} asked")
    picked = np.random.default_rng(seed).permutation(len(folders))[:people]
    return {folders[i].name: sorted(folders[i].glob("*.jpg"))[:photos_per_person] for i in sorted(picked)}


# ---------------------------------------------------------------------- the server

def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass
class GalleryServer(TorchServe):
    """A TorchServe whose face-gallery keeps its galleries under `gallery_root`."""

    gallery_root: Path | None = None

    @property
    def env(self) -> dict[str, str]:
        return super().env | {"FACE_GALLERY_ROOT": str(self.gallery_root)}


def start_server(work: Path, model_store: Path, timeout: float) -> GalleryServer:
    """face-embed and face-gallery on free loopback ports, their galleries in work/galleries."""
    folder = work / "server"
    folder.mkdir(parents=True, exist_ok=True)
    archives = model_archives(read_config(REPO / "config.properties"))
    inference, management, metrics, *grpc = free_ports(5)
    config = write_config(REPO / "config.properties", folder / "config.properties",
                          inference=f"http://127.0.0.1:{inference}", management=f"http://127.0.0.1:{management}",
                          metrics=f"http://127.0.0.1:{metrics}", grpc_ports=(grpc[0], grpc[1]),
                          model_store=model_store.resolve(),
                          extra={"load_models": ",".join(f"{m}={archives[m]}" for m in MODELS)})
    server = GalleryServer(folder, config, gallery_root=work / "galleries", tmp_prefix="face-gbench.")
    server.start()
    if server.wait_ready(timeout) is None:
        tail = server.log_tail()
        server.stop()
        raise SystemExit(f"the server was not ready after {timeout:g} s:\n{tail}")
    return server


def served(server: TorchServe, action: str, photos: list[tuple[str, bytes]] | None = None,
           session: requests.Session | None = None, **fields) -> dict:
    """One face-gallery call; its JSON answer (an error answer raises)."""
    files = [(f"image_{i}" if len(photos) > 1 or action == "enroll" else "image", (name, data))
             for i, (name, data) in enumerate(photos or [], start=1)]
    response = (session or requests).post(f"{server.inference}{GALLERY_ROUTE}", headers=server.headers(),
                                          data={"action": action, **fields}, files=files or None, timeout=300)
    if response.status_code != 200:
        raise RuntimeError(f"{action}: {response.status_code} {response.text[:300]}")
    return response.json()


# ---------------------------------------------------------------------- the stores

def unit_rows(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def synthetic_around(real: np.ndarray, count: int, similarity: float, rng: np.random.Generator) -> np.ndarray:
    """`count` unit vectors, each at cosine `similarity` to a real vector taken in turn: that
    vector mixed with a random unit direction orthogonal to it."""
    seeds = real[np.arange(count) % len(real)]
    noise = rng.standard_normal(seeds.shape, dtype=np.float32)
    noise -= (noise * seeds).sum(axis=1, keepdims=True) * seeds  # orthogonal to its seed
    noise = unit_rows(noise)
    return unit_rows(similarity * seeds + np.sqrt(1 - similarity**2) * noise).astype(np.float32)


def build_store(folder: Path, model: str, real: list[tuple[str, str, np.ndarray]], size: int,
                similarity: float) -> float:
    """A gallery store at `folder` of `size` faces: the `real` (name, photo, embedding) ones,
    then synthetic faces around them. Seconds taken (writes + index)."""
    from client.gallery.edge_settings import EdgeSettings
    from client.gallery.edge_store import EdgeStore
    from client.gallery.store import Face, collection_for

    shutil.rmtree(folder, ignore_errors=True)
    collection = collection_for(model)
    vectors = np.stack([vector for _, _, vector in real]).astype(np.float32)
    rng = np.random.default_rng(SEED)
    started = time.perf_counter()
    with EdgeStore(folder, EdgeSettings()) as store:
        store.ensure(collection, vectors.shape[1])
        store.put(collection, [Face(name, photo, model, vector.tolist()) for name, photo, vector in real])
        for done in range(len(real), size, BATCH):
            count = min(BATCH, size - done)
            batch = synthetic_around(vectors, count, similarity, rng)
            store.put(collection, [Face(f"synthetic_{done + i}", f"synthetic_{done + i}.jpg", model, v.tolist())
                                   for i, v in enumerate(batch)])
        store.optimize()
        stored = store.count(collection)
    if stored != max(size, len(real)):
        raise SystemExit(f"{folder}: {stored} faces stored of {size}")
    return round(time.perf_counter() - started, 2)


# ---------------------------------------------------------------------- timing

def timed(call: Callable[[int], bool], repeats: int) -> tuple[LatencySummary, int]:
    """`repeats` calls one after the other: their latency and how many answered right."""
    seconds, right = [], 0
    for i in range(repeats):
        start = time.perf_counter()
        right += bool(call(i))
        seconds.append(time.perf_counter() - start)
    return LatencySummary.of(seconds), right


def concurrent(call: Callable[[int], bool], clients: int, duration: float) -> dict:
    """`clients` threads calling back to back for `duration` seconds: requests/s (completed
    calls over the wall time until the last one ends), latency, errors, answered right."""
    lock = threading.Lock()
    seconds: list[float] = []
    counts = {"errors": 0, "right": 0}
    error_kinds: dict[str, int] = {}
    stop_at = time.perf_counter() + duration

    def client(index: int) -> None:
        i = index
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            try:
                ok = bool(call(i))
                error = None
            except Exception as exc:  # noqa: BLE001 - counted and named in the report, the run goes on
                ok, error = False, type(exc).__name__
            took = time.perf_counter() - start
            with lock:
                if error is None:
                    seconds.append(took)
                    counts["right"] += ok
                else:
                    counts["errors"] += 1
                    error_kinds[error] = error_kinds.get(error, 0) + 1
            i += clients

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(index,)) for index in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {"clients": clients, "duration_s": round(wall, 2), "requests": len(seconds),
            "per_second": round(len(seconds) / wall, 3), "errors": counts["errors"], "error_kinds": error_kinds,
            "identified": counts["right"], "latency_s": LatencySummary.of(seconds) if seconds else None}


# ---------------------------------------------------------------------- the runs

def identify_runs(server: GalleryServer, client, gallery: str, folder: Path,
                  queries: list[tuple[str, str, bytes]], repeats: int, clients: int, duration: float) -> dict:
    """In process first (this process opens the store, then closes it), then served (the
    server's worker opens it and keeps it open)."""
    from client.gallery import Gallery

    def query(i: int) -> tuple[str, str, bytes]:
        return queries[i % len(queries)]

    with Gallery(folder, client) as local:
        def in_process(i: int) -> bool:
            person, _, photo = query(i)
            return local.identify(photo).faces[0].identity == person

        start = time.perf_counter()
        in_process(0)  # opens the index: timed on its own
        first_local = time.perf_counter() - start
        local_latency, local_right = timed(in_process, repeats)
        local_load = concurrent(in_process, clients, duration)

    session = requests.Session()

    def over_http(i: int, session: requests.Session = session) -> bool:
        person, name, photo = query(i)
        return served(server, "identify", [(name, photo)], session, gallery=gallery)["faces"][0]["identity"] == person

    start = time.perf_counter()
    over_http(0)  # the worker opens the gallery: timed on its own
    first_served = time.perf_counter() - start
    served_latency, served_right = timed(over_http, repeats)
    sessions = [requests.Session() for _ in range(clients)]
    served_load = concurrent(lambda i: over_http(i, sessions[i % clients]), clients, duration)
    return {"served": {"first_s": round(first_served, 3), "latency_s": served_latency, "identified": served_right,
                       "load": served_load},
            "in_process": {"first_s": round(first_local, 3), "latency_s": local_latency,
                           "identified": local_right, "load": local_load}}


def enrolment_runs(server: GalleryServer, client, work: Path, people: dict[str, list[Path]]) -> dict:
    """The same people into an empty gallery: served (one enroll call per person) and in process."""
    from client.gallery import Gallery

    photos = sum(len(files) for files in people.values())
    folder = work / "enroll_in_process"
    shutil.rmtree(folder, ignore_errors=True)
    with Gallery(folder, client) as local:
        start = time.perf_counter()
        local_enrolled = sum(len(local.enroll(name, files).enrolled) for name, files in people.items())
        local_s = time.perf_counter() - start
    session = requests.Session()
    start = time.perf_counter()
    served_enrolled = sum(len(served(server, "enroll", [(f.name, f.read_bytes()) for f in files], session,
                                     gallery="enroll-served", name=name)["enrolled"])
                          for name, files in people.items())
    served_s = time.perf_counter() - start
    return {"people": len(people), "photos": photos,
            "served": {"seconds": round(served_s, 2), "enrolled": served_enrolled,
                       "photos_per_second": round(photos / served_s, 3)},
            "in_process": {"seconds": round(local_s, 2), "enrolled": local_enrolled,
                           "photos_per_second": round(photos / local_s, 3)}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="gallery sizes, faces")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of each concurrent-client run")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients of the throughput runs")
    parser.add_argument("--repeats", type=int, default=100, help="identify calls one at a time, per size and side")
    parser.add_argument("--people", type=int, default=20, help="LFW people enrolled (real faces of each gallery)")
    parser.add_argument("--photos-per-person", type=int, default=4, help="their photos enrolled, at most")
    parser.add_argument("--queries", type=int, default=10, help="1-face query photos (other photos of those people)")
    parser.add_argument("--synthetic-similarity", type=float, default=0.25,
                        help="cosine of each synthetic face to the real face it is made around")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="holds lfw/lfw-deepfunneled (default: $DATA_DIR, else params.yaml's data_dir)")
    parser.add_argument("--model-store", type=Path, default=REPO / "model_store")
    parser.add_argument("--work", type=Path, default=WORK, help="the server's folder, galleries and stores")
    parser.add_argument("--out", type=Path, default=REPORT)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds the server may take to start")
    parser.add_argument("--smoke", action="store_true",
                        help=f"a check that it runs, not figures: {SMOKE} (other options as given)")
    args = parser.parse_args(argv)
    if args.smoke:
        for key, value in SMOKE.items():
            setattr(args, key, value)
    if args.data_dir is None:
        from data.lfw import default_data_dir

        args.data_dir = default_data_dir()
    people_dir = (args.data_dir / "lfw" / "lfw-deepfunneled").resolve()
    if not people_dir.is_dir():
        print(f"{people_dir} is missing: the bench enrols and searches LFW photos", file=sys.stderr)
        return 2
    from client import FaceClient

    command = "python -m bench.gallery_served " + " ".join(sys.argv[1:] if argv is None else argv)
    machine_before = machine_state()
    # The people enrolled, and query photos: more of their photos than are enrolled.
    extra = max(2, -(-args.queries // args.people) + 1)  # some photos show several faces: not queries
    chosen = lfw_people(people_dir, args.people, args.photos_per_person + extra)
    people = {name: files[:args.photos_per_person] for name, files in chosen.items()}
    spare = [(name, file) for name, files in chosen.items() for file in files[args.photos_per_person:]]
    shutil.rmtree(args.work / "galleries", ignore_errors=True)
    args.work.mkdir(parents=True, exist_ok=True)
    server = start_server(args.work, args.model_store, args.timeout)
    try:
        client = FaceClient(server.inference, token=server.key(), timeout=300)
        real, queries, model = [], [], None
        for name, files in people.items():
            for file in files:
                answer = client.embed(file.read_bytes())
                if answer.faces:  # the enrolment rule: the photo's largest face
                    real.append((name, file.name, np.asarray(answer.faces[0].embedding, dtype=np.float32)))
                    model = answer.model
        for name, file in spare:
            if len(queries) < args.queries and len(client.embed(file.read_bytes()).faces) == 1:
                queries.append((name, file.name, file.read_bytes()))
        if model is None or not queries:
            raise SystemExit("no face found in the photos picked: try other --people")
        sizes = []
        for size in sorted(args.sizes):
            gallery = f"n{size}"
            folder = args.work / "galleries" / gallery
            build_s = build_store(folder, model, real, size, args.synthetic_similarity)
            print(f"{gallery}: built in {build_s} s", flush=True)
            row = identify_runs(server, client, gallery, folder, queries, args.repeats, args.clients, args.duration)
            sizes.append({"size": size, "build_s": build_s, **row})
            print(f"{gallery}: served p50 {row['served']['latency_s'].p50:.3f} s, "
                  f"in process p50 {row['in_process']['latency_s'].p50:.3f} s", flush=True)
        enrolment = enrolment_runs(server, client, args.work, people)
        memory_mb = server.memory_mb()
    finally:
        server.stop()
    report = {"generated": datetime.now(UTC).isoformat(timespec="seconds"), "command": command,
              "smoke": args.smoke, "machine": machine_before, "machine_after": machine_state(),
              "model": model, "clients": args.clients,
              "photos": {"source": str(people_dir), "people": len(people),
                         "enrolled_faces": len(real), "queries": [f"{name}/{photo}" for name, photo, _ in queries]},
              "synthetic": f"unit vectors at cosine {args.synthetic_similarity} to the real faces, taken in turn",
              "served_memory_mb": memory_mb, "identify": sizes, "enrolment": enrolment}
    write_report(args.out, report, GalleryServedReport)
    return 0


if __name__ == "__main__":
    sys.exit(main())
