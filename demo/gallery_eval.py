"""1:N identification on LFW peopleDevTest through the running service and the gallery.

Gallery: every peopleDevTest person with >= 2 photos, enrolled with up to K photos each
(K = 1, 3, 5; always leaving at least one photo to search with), photos taken in file
order, skipping those the gallery refuses (no face / two similar faces). Probes: their
other photos (closed set) and the photos of the one-photo people, never enrolled (open set).
A probe's face is the one nearest the photo's centre (LFW centres the labelled face).

- top-1: the nearest enrolled person is the right one (whatever the score);
- identified: top-1 and its score >= the threshold (the gallery's default: the server's
  calibrated thresholds sized to the gallery, `client.gallery.threshold`; or --threshold);
- unknown rejected: a never-enrolled person's face gets no identity;
- search time: the vector store's query alone, per face, at the gallery's size.

Each photo goes through face-embed once (answers cached in memory), then through the real
Gallery: enrol (face choice, store) and identify. The gallery lives in a temporary folder.

    python -m demo.gallery_eval [--per-person 1 3 5] [--out reports/gallery.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from client import FaceClient
from client.gallery import Gallery
from client.gallery.faces import FaceChoiceError, enrolment_face
from client.gallery.store import collection_for
from data.lfw import lfw_photo
from data.lfw_sampling import load_devtest_people
from demo.common import add_client_args, data_dir, run_main

REPORT = Path("reports") / "gallery.json"


class CachingClient(FaceClient):
    """face-embed answers kept by photo path: each photo is embedded once for all runs."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.answers: dict = {}

    def embed(self, photo):
        key = str(photo)
        if key not in self.answers:
            self.answers[key] = super().embed(photo)
        return self.answers[key]


def central_face(faces, photo_size: float = 250.0):
    centre = photo_size / 2
    return min(faces, key=lambda f: (f.box[0] + f.box[2] / 2 - centre) ** 2 + (f.box[1] + f.box[3] / 2 - centre) ** 2)


def evaluate(client: CachingClient, people: dict[str, list[Path]], strangers: list[Path], per_person: int,
             threshold: float | None) -> dict:
    with tempfile.TemporaryDirectory(prefix="gallery-eval-") as folder, Gallery(Path(folder) / "g", client) as gallery:
        probes: list[tuple[str, Path]] = []
        skipped = 0
        for name, photos in people.items():
            chosen = []
            for photo in photos:
                if len(chosen) == per_person or len(photos) - len(chosen) <= 1:
                    break
                try:
                    enrolment_face(client.embed(photo).faces)
                    chosen.append(photo)
                except FaceChoiceError:
                    skipped += 1
            gallery.enroll(name, chosen)
            probes += [(name, p) for p in photos if p not in chosen]
        embeddings = sum(len(p.photos) for p in gallery.people())
        top1 = identified = no_face = 0
        search_s: list[float] = []
        for name, photo in probes:
            answer = gallery.identify(photo, top_k=1, threshold=threshold)
            threshold_used = answer.threshold
            if not answer.faces:
                no_face += 1
                continue
            face = central_face(answer.faces)
            top1 += face.candidates[0].name == name
            identified += face.identity == name
            collection = collection_for(answer.model)
            vector = next(f.embedding for f in client.embed(photo).faces if tuple(f.box) == tuple(face.box))
            start = time.perf_counter()
            gallery.store.search(collection, vector, 1)
            search_s.append(time.perf_counter() - start)
        rejected = stranger_faces = 0
        for photo in strangers:
            answer = gallery.identify(photo, top_k=1, threshold=threshold)
            if answer.faces:
                stranger_faces += 1
                rejected += central_face(answer.faces).identity is None
        return {
            "photos_per_person": per_person, "people": len(people), "embeddings": embeddings,
            "enrolment_photos_skipped": skipped, "threshold": threshold_used,
            "false_identification_rate": None if threshold is not None else gallery.false_identification_rate,
            "model": answer.model,
            "probes": len(probes), "probes_without_face": no_face,
            "top1_accuracy": round(top1 / len(probes), 4),
            "identified_accuracy": round(identified / len(probes), 4),
            "strangers": len(strangers), "strangers_with_face": stranger_faces,
            "unknown_rejection": round(rejected / max(stranger_faces, 1), 4),
            "search_ms_median": round(1000 * statistics.median(search_s), 3),
            "search_ms_p95": round(1000 * sorted(search_s)[int(0.95 * (len(search_s) - 1))], 3),
        }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_client_args(parser)
    parser.add_argument("--per-person", type=int, nargs="+", default=[1, 3, 5])
    parser.add_argument("--limit", type=int, default=None, help="only the first N people of each kind (a quick look)")
    parser.add_argument("--out", type=Path, default=REPORT)
    args = parser.parse_args(argv)
    folder = data_dir(args)
    counts = load_devtest_people(folder)
    enrolled = sorted(n for n, c in counts.items() if c >= 2)[:args.limit]
    strangers = sorted(n for n, c in counts.items() if c == 1)[:args.limit]
    people = {n: [lfw_photo(folder, n, i) for i in range(1, counts[n] + 1)] for n in enrolled}
    stranger_photos = [lfw_photo(folder, n, 1) for n in strangers]
    client = CachingClient(base_url=args.url, token=args.token, timeout=args.timeout, key_file=args.key_file)
    rows = []
    for k in args.per_person:
        start = time.perf_counter()
        row = evaluate(client, people, stranger_photos, k, args.threshold)
        row["seconds"] = round(time.perf_counter() - start, 1)
        print(json.dumps(row), flush=True)
        rows.append(row)
    report = {"command": "python -m demo.gallery_eval " + " ".join(sys.argv[1:] if argv is None else argv),
              "data": "LFW peopleDevTest", "results": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
