"""Bulk enrolment throughput end to end: `gallery enroll-all` (client/gallery/bulk.py) on LFW
peopleDevTest photos through a running service, into a fresh embedded gallery.

Per setting of --workers (face-embed requests in flight): photos/s, and where the time goes:
- client: storing (Qdrant Edge puts, flushed) and the final optimize, summed over the run;
- service: each request's round trip seen by the client (median), and, with --server-log
  (TorchServe's logs/model_metrics.log), the handler's own time per request (median
  `HandlerTime`: decode, detect, align, embed).
The stage that limits is the one whose work per photo matches the run's time per photo.

    python -m bench.enroll_throughput --url URL --token KEY [--photos 1000] [--workers 1 2 4]
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from client.gallery import Gallery
from client.gallery.bulk import BulkEnrolment
from demo.common import add_client_args, data_dir, make_client
from demo.sampling import lfw_photo, load_devtest_people

REPORT = Path("reports") / "gallery_enroll.json"
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
            (person / f"{name}_{number:04d}.jpg").symlink_to(lfw_photo(data, name, number))
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


def handler_ms(log: Path | None, skip_lines: int) -> tuple[float | None, int]:
    if log is None or not log.exists():
        return None, 0
    lines = log.read_text(errors="replace").splitlines()
    times = [float(m.group(1)) for line in lines[skip_lines:] if (m := HANDLER_TIME.search(line))]
    return (round(statistics.median(times), 2) if times else None), len(lines)


def run(args, people: Path, workers: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="enroll-bench-") as folder, \
            Gallery(Path(folder) / "g", make_client(args)) as gallery:
        _, skip = handler_ms(args.server_log, 0)
        embed = Timed(gallery.client, "embed")
        put = Timed(gallery.store, "put")
        optimize = Timed(gallery.store, "optimize")
        bulk = BulkEnrolment(gallery, workers=workers, batch=args.batch)
        start = time.perf_counter()
        summary = bulk.run(people)
        seconds = time.perf_counter() - start
        server_ms, _ = handler_ms(args.server_log, skip)
    photos = summary.photos
    return {"workers": workers, "photos": photos, "enrolled": summary.enrolled, "refused": len(summary.refused),
            "seconds": round(seconds, 2), "photos_per_second": round(photos / seconds, 2),
            "request_ms_median": round(1000 * statistics.median(embed.each), 2),
            "handler_ms_median": server_ms,
            "store_put_s": round(put.seconds, 3), "optimize_s": round(optimize.seconds, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_client_args(parser)
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--server-log", type=Path, default=None, help="TorchServe's model_metrics.log")
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="people-") as folder:
        count = people_folder(Path(folder), data_dir(args), args.photos)
        rows = []
        for workers in args.workers:
            rows.append(run(args, Path(folder), workers))
            print(json.dumps(rows[-1]), flush=True)
    shown = list(sys.argv[1:] if argv is None else argv)
    shown = [("KEY" if i and shown[i - 1] == "--token" else a) for i, a in enumerate(shown)]  # never the key
    report = {"command": "python -m bench.enroll_throughput " + " ".join(shown),
              "date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "photos": count,
              "data": "LFW peopleDevTest, people by name", "results": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
