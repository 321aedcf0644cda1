"""Bulk enrolment throughput end to end: `gallery enroll-all` (`Gallery.enroll_folder`) on LFW
peopleDevTest photos through a running service, into a fresh embedded gallery.

Per setting (service workers of face-embed x photos per request x requests in flight):
photos/s, and where the time goes:
- client: storing (Qdrant Edge puts, flushed) and the final optimize, summed over the run;
- service: each request's round trip seen by the client (median), and, from TorchServe's
  logs/model_metrics.log, the handler's own time (`HandlerTime`: decode, detect, align,
  embed) summed over the run, per photo, and as a share of the workers' time.
The stage that limits is the one whose work per photo matches the run's time per photo.
Service workers are set with the management API (its key from key_file.json), then put back.

    make serve
    python -m bench.enroll_throughput [--photos 1000] [--service-workers 1 2]
        [--per-request 1 8] [--in-flight 2 4]
"""
from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import requests

from client import read_key_file
from client.gallery import Gallery
from data.lfw import lfw_photo
from data.lfw_sampling import load_devtest_people
from demo.common import add_client_args, data_dir, make_client

REPORT = Path("reports") / "gallery_enroll.json"
MODEL = "face-embed"
HANDLER_TIME = re.compile(r"HandlerTime\.(?:ms|Milliseconds):([0-9.]+)")


def people_folder(folder: Path, data: Path, photos: int) -> int:
    """Symlinks to the first `photos` peopleDevTest photos (people by name): folder/<name>/."""
    counts, made = load_devtest_people(data), 0
    for name in sorted(counts):
        person = folder / name
        for number in range(1, counts[name] + 1):
            if made == photos:
                return made
            person.mkdir(exist_ok=True)
            (person / f"{name}_{number:04d}.jpg").symlink_to(lfw_photo(data, name, number).resolve())
            made += 1
    return made


class Timed:
    """Adds up the seconds spent in one method of an object (wall time, across threads)."""

    def __init__(self, owner, method: str) -> None:
        self.seconds, self.calls, self.each = 0.0, 0, []
        inner = getattr(owner, method)

        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                spent = time.perf_counter() - start
                self.seconds += spent
                self.calls += 1
                self.each.append(spent)
        setattr(owner, method, wrapper)


def handler_times(log: Path, skip_lines: int) -> tuple[list[float], int]:
    """HandlerTime values (ms) logged after line `skip_lines`, and the log's line count."""
    if not log.exists():
        return [], 0
    lines = log.read_text(errors="replace").splitlines()
    return [float(m.group(1)) for line in lines[skip_lines:] if (m := HANDLER_TIME.search(line))], len(lines)


def set_service_workers(args, count: int) -> int:
    """Scales face-embed to `count` workers (management API) and returns how many it has."""
    headers = {"Authorization": f"Bearer {read_key_file(args.key_file or 'key_file.json', 'management')}"}
    url = f"{args.management_url}/models/{MODEL}"
    answer = requests.put(url, params={"min_worker": count, "max_worker": count, "synchronous": "true"},
                          headers=headers, timeout=300)
    answer.raise_for_status()
    described = requests.get(url, headers=headers, timeout=30).json()
    return sum(worker.get("status") == "READY" for worker in described[0]["workers"])


def run(args, people: Path, service_workers: int, per_request: int, in_flight: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="enroll-bench-") as folder, \
            Gallery(Path(folder) / "g", make_client(args)) as gallery:
        _, skip = handler_times(args.server_log, 0)
        embed = Timed(gallery.client, "embed_many")
        put = Timed(gallery.store, "put")
        optimize = Timed(gallery.store, "optimize")
        start = time.perf_counter()
        summary = gallery.enroll_folder(people, workers=in_flight, batch=args.batch, per_request=per_request)
        seconds = time.perf_counter() - start
        handler, _ = handler_times(args.server_log, skip)
    photos = summary.photos
    return {"service_workers": service_workers, "per_request": per_request, "in_flight": in_flight,
            "photos": photos, "enrolled": summary.enrolled, "refused": len(summary.refused),
            "seconds": round(seconds, 2), "photos_per_second": round(photos / seconds, 2),
            "request_ms_median": round(1000 * statistics.median(embed.each), 2),
            "handler_ms_per_photo": round(sum(handler) / photos, 2) if handler else None,
            "handler_busy_share": round(sum(handler) / 1000 / seconds / service_workers, 3) if handler else None,
            "store_put_s": round(put.seconds, 3), "optimize_s": round(optimize.seconds, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_client_args(parser)
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--service-workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--per-request", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--in-flight", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--management-url", default="http://127.0.0.1:8081")
    parser.add_argument("--server-log", type=Path, default=Path("logs") / "model_metrics.log",
                        help="TorchServe's model_metrics.log")
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="people-") as folder:
        count = people_folder(Path(folder), data_dir(args), args.photos)
        try:
            for service_workers in args.service_workers:
                ready = set_service_workers(args, service_workers)
                if ready != service_workers:
                    raise SystemExit(f"{MODEL} has {ready} ready workers, not {service_workers}")
                for per_request, in_flight in itertools.product(args.per_request, args.in_flight):
                    rows.append(run(args, Path(folder), service_workers, per_request, in_flight))
                    print(json.dumps(rows[-1]), flush=True)
        finally:
            set_service_workers(args, 1)  # as handler/model-config.yaml serves it
    shown = list(sys.argv[1:] if argv is None else argv)
    shown = [("KEY" if i and shown[i - 1] == "--token" else a) for i, a in enumerate(shown)]  # never the key
    best = max(rows, key=lambda row: row["photos_per_second"])
    report = {"command": "python -m bench.enroll_throughput " + " ".join(shown),
              "date": datetime.now(UTC).strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "photos": count,
              "data": "LFW peopleDevTest, people by name",
              "server": "make serve (face-verify and face-embed, 1 inference thread per worker); face-embed "
                        "scaled to `service_workers` with the management API",
              "results": rows, "best": best}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
