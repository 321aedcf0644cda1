"""`face-verify calibrate PEOPLE_DIR [--far 0.001] [--save [FILE]]`: the threshold table for
the user's own photos, a recommended threshold, optionally saved for the client to use."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..calibrate import (
    Row,
    embed_people,
    format_table,
    people_photos,
    rates,
    recommend,
    score_pairs,
    table_thresholds,
)
from ..errors import BadInputError, PhotoInputError
from ..thresholds import THRESHOLD_FILE_NAME, write_threshold_file


def add(commands, common) -> None:
    parser = commands.add_parser(
        "calibrate", parents=[common],
        help="threshold -> false/true-match rates on your own labelled photos",
        description="PEOPLE_DIR holds one folder per person with that person's photos. Every photo is "
                    "embedded by the server; same-person and different-person pairs are scored.")
    parser.add_argument("people", help="folder of person folders: PEOPLE_DIR/<person>/<photo>")
    parser.add_argument("--far", type=float, default=0.001,
                        help="target false-match rate for the recommended threshold (default 0.001)")
    parser.add_argument("--max-pairs", type=int, default=500_000,
                        help="score at most this many pairs of each kind (a seeded sample; default 500000)")
    parser.add_argument("--step", type=float, default=0.05, help="threshold step of the table (default 0.05)")
    parser.add_argument("--save", nargs="?", const=THRESHOLD_FILE_NAME, default=None, metavar="FILE",
                        help=f"write the recommended threshold to FILE (default ./{THRESHOLD_FILE_NAME}, "
                             "which the client then uses by default)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..photos import PHOTO_SUFFIXES
    from .common import Progress, make_client

    if not 0 < args.far < 1:
        raise PhotoInputError(f"--far must be in (0, 1), not {args.far}", code="bad_far")
    root = Path(args.people)
    if not root.is_dir():
        raise PhotoInputError(f"{root} is not a folder", code="not_a_folder")
    people = people_photos(root, PHOTO_SUFFIXES)
    if len(people) < 2 or not any(len(p) >= 2 for p in people.values()):
        raise PhotoInputError(f"{root} needs folders for at least 2 people, one of them with 2 or more photos",
                              code="too_few_people")
    progress = None if args.quiet else Progress("calibrate: photos")
    with make_client(args) as client:
        embeddings = embed_people(client, people, lambda line: print(line, file=sys.stderr), progress)
        client.threshold = None  # ask for the server's own threshold, for comparison
        served = _served(client, people)
    same, different = score_pairs(embeddings, args.max_pairs)
    if not same or not different:
        raise PhotoInputError("too few photos with a face for both same- and different-person pairs",
                              code="too_few_faces")
    chosen = recommend(different, args.far)
    rows = {t: rates(t, same, different) for t in table_thresholds(same, different, args.step)}
    rows[chosen] = rates(chosen, same, different)
    rows[served.threshold] = rates(served.threshold, same, different)
    marks = {chosen: f"<- recommended for false-match rate <= {args.far:g}",
             served.threshold: "<- the server's threshold"}
    if chosen == served.threshold:
        marks[chosen] = "<- recommended (= the server's threshold)"
    photos = sum(len(v) for v in embeddings.values())
    print(f"{served.model}: {photos} photos with a face, {len(embeddings)} people; "
          f"{len(same)} same-person pairs, {len(different)} different-person pairs")
    print(format_table([rows[t] for t in sorted(rows)], marks))
    best: Row = rows[chosen]
    low, high = best.far.interval
    print(f"\nrecommended threshold: {chosen:.4f}  false-match rate {best.far.value:.4%} "
          f"(95% CI {low:.4%} - {high:.4%}), true-match rate {best.tar.value:.2%}")
    if high > args.far:
        needed = int(3.0 / args.far)  # 0 false matches in n pairs: upper bound ~ 3/n
        print(f"note: with {len(different)} different-person pairs the interval reaches {high:.4%}, above "
              f"{args.far:g}; about {needed} pairs (more people) would pin it down", file=sys.stderr)
    if args.save:
        path = write_threshold_file(args.save, {
            "threshold": chosen, "model": served.model, "target_far": args.far,
            "far": best.far.as_dict(), "tar": best.tar.as_dict(), "people_dir": str(root.resolve()),
            "photos": photos, "people": len(embeddings)})
        print(f"wrote {path} (the client uses it by default when run from this folder, "
              f"or with FACE_VERIFY_THRESHOLD_FILE={path.resolve()})")
    return 0


def _served(client, people: dict[str, list[Path]]):
    """One verify answer (model name, the server's threshold), from the first reference
    photo the server finds a face in."""
    photos = [photo for group in people.values() for photo in group]
    for reference in photos[:20]:
        try:
            return client.verify(reference, photos[0])
        except BadInputError:
            continue
    raise PhotoInputError("no face found in the first 20 photos", code="too_few_faces")
