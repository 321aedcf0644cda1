"""Capacity of the replica setup: 1, 2, 3 replicas behind nginx on this machine.

    python -m bench.capacity                          # 1 2 3 replicas, 20 s per load -> reports/capacity.json
    python -m bench.capacity --replicas 1 2 --duration 10

For each replica count: `python -m scripts.replicas start` (what `make serve REPLICAS=N` runs,
here on free ports with its own state folder, so it never touches `make serve`'s), the
start time of each replica, then through the front: verify(1 + 15) from 2 clients per
replica, and 1-face embeddings (the reference photo) from as many, --duration s each;
throughput counts correct answers only. Then each replica's memory (PSS: frontend + both
workers), and the replicas are stopped. The plan: requests/s per core, and replicas needed
for 10, 100 and 1,000 requests/s, from the row that got the most out of the machine (each of
its replicas sized to its share of the cores). Once the replicas outnumber the cores they
share them: those rows show the overhead, not more capacity.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

from bench.loadtest import Checker, Sample, Sender, run_clients, summarize
from bench.photos import photo_set
from bench.target import REPO, Target, machine_state, write_report
from report.results import CapacityReport

TARGETS = (10, 100, 1000)
HEADROOM = 0.7  # deploy/k8s/replicas.yaml's HPA keeps the replicas at 70 % CPU


def free_base(size: int = 40) -> int:
    for base in range(21000, 40000, 100):
        if all(_free(base + offset) for offset in range(size)):
            return base
    raise SystemExit("no free block of ports")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


class EmbedSender:
    """One client sending the same 1-face photo to face-embed; correct = same face count."""

    def __init__(self, target: Target, photo: bytes, faces: int, timeout: float) -> None:
        self.url, self.headers = f"{target.inference}/predictions/face-embed", target.auth()
        self.photo, self.faces, self.timeout = photo, faces, timeout
        self.session = requests.Session()

    def send(self) -> Sample:
        start = time.monotonic()
        try:
            response = self.session.post(self.url, files={"image": ("photo.jpg", self.photo, "image/jpeg")},
                                         headers=self.headers, timeout=(5, self.timeout))
        except requests.RequestException as exc:
            return Sample(start, time.monotonic(), None, type(exc).__name__)
        try:
            ok = response.status_code == 200 and len(response.json().get("faces", [])) == self.faces
        except ValueError:
            ok = False
        return Sample(start, time.monotonic(), response.status_code, "ok" if ok else f"http_{response.status_code}")

    def close(self) -> None:
        self.session.close()


def timed_load(make_sender, clients: int, duration: float) -> dict:
    started = time.monotonic()
    samples = run_clients(make_sender, clients, threading.Event(), started + duration)
    summary = summarize(samples, started)
    return {key: summary[key] for key in ("sent", "ok", "errors", "lost", "throughput_rps", "latency_s")} | {
        "clients": clients, "duration_s": duration}


def measure(replicas: int, photos, duration: float, work: Path) -> dict:
    base = free_base()
    options = ["--state-dir", str(work / f"state{replicas}"), "--key-file", str(work / f"key{replicas}.json"),
               "--front", f"127.0.0.1:{base + 95}", "--base-port", str(base)]
    cli = [sys.executable, "-m", "scripts.replicas"]
    began = time.monotonic()
    subprocess.run([*cli, "start", "--replicas", str(replicas), *options], cwd=REPO, check=True)
    all_ready = round(time.monotonic() - began, 1)
    try:
        state = json.loads((work / f"state{replicas}" / "replicas.json").read_text())
        target = Target(state["front"]["url"], "", Path(state["key_file"]))
        warm = requests.post(f"{target.inference}/predictions/face-verify", files=photos.form_fields(),
                             headers=target.auth(), timeout=120)
        warm.raise_for_status()
        checker = Checker(warm.json())
        embedded = requests.post(f"{target.inference}/predictions/face-embed", headers=target.auth(),
                                 files={"image": ("photo.jpg", photos.reference, "image/jpeg")}, timeout=60)
        embedded.raise_for_status()
        faces = len(embedded.json()["faces"])
        clients = 2 * replicas
        print(f"{replicas} replica(s): verify(1 + {len(photos.tests)}), {clients} clients, {duration:g} s ...",
              flush=True)
        verify = timed_load(lambda: Sender("raw", target, photos, 120, checker), clients, duration)
        print(f"  {verify['throughput_rps']} req/s; embed (1 face) ...", flush=True)
        embed = timed_load(lambda: EmbedSender(target, photos.reference, faces, 60), clients, duration)
        print(f"  {embed['throughput_rps']} req/s", flush=True)
        status = json.loads(subprocess.run([*cli, "status", *options], cwd=REPO, capture_output=True, text=True,
                                           check=True).stdout)
        memory = [replica["memory_mb"] for replica in status["replicas"]]
    finally:
        subprocess.run([*cli, "stop", *options], cwd=REPO, check=False, capture_output=True)
    return {"replicas": replicas, "start_all_ready_s": all_ready,
            "start_s": [replica["start_seconds"] for replica in state["replicas"]],
            "memory_pss_mb_after_load": memory, "verify": verify, "embed_one_face": embed,
            "embed_faces_in_photo": faces}


def plan(rows: list[dict], cores: int) -> dict:
    """Replicas needed per target rate, from the row that got the most out of this machine's
    cores (its cores shared evenly by its replicas)."""
    out = {}
    for kind in ("verify", "embed_one_face"):
        best = max(rows, key=lambda row: row[kind]["throughput_rps"])
        rate = best[kind]["throughput_rps"]
        per_replica = rate / best["replicas"]
        out[kind] = {"from_row": best["replicas"], "per_core_rps": round(rate / cores, 3),
                     "cores_per_replica": round(cores / best["replicas"], 2),
                     "per_replica_rps": round(per_replica, 3),
                     "replicas_for": {str(t): math.ceil(t / per_replica) if rate else None for t in TARGETS},
                     f"replicas_for_at_{int(HEADROOM * 100)}pct": {
                         str(t): math.ceil(t / (per_replica * HEADROOM)) if rate else None for t in TARGETS}}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.capacity", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--duration", type=float, default=20.0, help="seconds per load (20)")
    parser.add_argument("--data-dir", default=None, help="folder holding lfw/ (default $DATA_DIR)")
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "capacity.json")
    parser.add_argument("--plan-only", action="store_true", help="recompute the plan from --out's rows")
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    if args.plan_only:
        report = json.loads(args.out.read_text())
        report["plan"] = plan(report["rows"], report["machine"]["cpus"])
        write_report(args.out, report, CapacityReport)
        print(json.dumps(report["plan"], indent=2))
        return 0
    photos = photo_set(args.data_dir)
    machine = machine_state()
    rows = []
    with tempfile.TemporaryDirectory(prefix="capacity-") as work:
        for replicas in args.replicas:
            rows.append(measure(replicas, photos, args.duration, Path(work)))
    report = {"generated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "command": "python -m bench.capacity " + " ".join(argv if argv is not None else sys.argv[1:]),
              "photos": photos.source, "request": f"verify 1 + {len(photos.tests)}", "machine": machine,
              "machine_after": machine_state(), "rows": rows}
    report["plan"] = plan(rows, cores)
    write_report(args.out, report, CapacityReport)
    return 0


if __name__ == "__main__":
    sys.exit(main())
