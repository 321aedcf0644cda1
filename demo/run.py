"""The 1 + 15 demo against the running server.

    python -m demo.run                      # seeded LFW peopleDevTest set (--seed, default 0)
    python -m demo.run --reference me.jpg --tests photos/   # own photos (no truth)

Prints the table (and, with truth, "accepted x/5, rejected y/10"), writes
runs/demo/predictions.json and runs/demo/contact_sheet.png (--refresh-examples: the
committed reports/demo/ example).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from client.cli.terminal import format_table, glue_token
from client.contact_sheet import contact_sheet
from data.lfw_sampling import (
    REQUIRED_ACCEPTED,
    REQUIRED_REJECTED,
    PhotoSet,
    load_devtest_people,
    sample_set,
    score_set,
)
from demo.common import add_client_args, data_dir, make_client, output_path, run_main, verify_all
from demo.own_photos import folder_set


def _display(path: Path, root: Path | None) -> str:
    """Paths in reports: relative to the data folder for LFW photos, else as given."""
    if root is not None:
        try:
            return str(path.resolve().relative_to(root.resolve()))
        except ValueError:
            pass
    return str(path)


def build_set(args: argparse.Namespace) -> PhotoSet:
    if args.reference:
        return folder_set(args.reference, args.tests)
    return sample_set(load_devtest_people(data_dir(args)), data_dir(args), args.seed)


def predictions(demo_set: PhotoSet, result, all_boxes, root: Path | None) -> dict:
    tests = []
    for i, (path, item, boxes) in enumerate(zip(demo_set.tests, result.results, all_boxes, strict=False)):
        same = demo_set.truth(i)
        row = {"name": item.name, "file": _display(path, root),
               "person": demo_set.people[i] if demo_set.people else None, "truth_same": same,
               "match": item.match, "score": item.score, "box": item.box, "faces": item.faces, "all_boxes": boxes}
        if same is not None:
            row["correct"] = item.match == same
        tests.append(row)
    payload = {
        "model": result.model, "threshold": result.threshold, "seed": demo_set.seed,
        "reference": {"file": _display(demo_set.reference, root), "person": demo_set.reference_person,
                      **result.reference.model_dump(mode="json")},
        "tests": tests,
    }
    if demo_set.has_truth:
        payload["summary"] = score_set(demo_set, result.match_flags) | {
            "required_accepted": REQUIRED_ACCEPTED, "required_rejected": REQUIRED_REJECTED}
    return payload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0, help="which LFW set (default 0)")
    parser.add_argument("--reference", type=Path, default=None, help="own reference photo")
    parser.add_argument("--tests", type=Path, default=None, help="folder of own test photos")
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default runs/demo; reports/demo with --refresh-examples)")
    parser.add_argument("--best-box-only", action="store_true",
                        help="draw only the best-matching face's box, not every face's")
    add_client_args(parser)
    args = parser.parse_args(glue_token(sys.argv[1:] if argv is None else list(argv)))
    if (args.reference is None) != (args.tests is None):
        parser.error("--reference and --tests go together")

    def run() -> int:
        demo_set = build_set(args)
        root = None if args.reference else data_dir(args)
        with make_client(args) as client:
            result = verify_all(client, demo_set.reference, demo_set.tests, args.threshold)
        # every face found comes with the verdict (detections); none drawn with --best-box-only
        all_boxes = [None if args.best_box_only else [list(face.box) for face in item.detections]
                     for item in result.results]
        labels = [(f"{path.name} ({'same' if demo_set.truth(i) else 'other'})" if demo_set.has_truth else str(path))
                  for i, path in enumerate(demo_set.tests)]
        print(format_table(result, str(demo_set.reference), labels))
        payload = predictions(demo_set, result, all_boxes, root)
        title = f"{result.model}   threshold {result.threshold:.4f}"
        if demo_set.has_truth:
            summary = payload["summary"]
            line = (f"accepted {summary['accepted']}/{summary['same']}, "
                    f"rejected {summary['rejected']}/{summary['different']}")
            verdict = "meets" if summary["meets_requirement"] else "does NOT meet"
            print(f"\n{line}  ({verdict} the requirement: >= {REQUIRED_ACCEPTED}/{summary['same']} "
                  f"accepted and >= {REQUIRED_REJECTED}/{summary['different']} rejected)")
            title = f"seed {demo_set.seed}: {line}   ({title})"
        out = output_path(args, "demo")
        out.mkdir(parents=True, exist_ok=True)
        (out / "predictions.json").write_text(json.dumps(payload, indent=2) + "\n")
        sheet = out / "contact_sheet.png"
        contact_sheet(demo_set.reference, demo_set.tests, result, [path.name for path in demo_set.tests],
                      set(demo_set.same_indices) if demo_set.has_truth else None, columns=4, title=title,
                      truth="the truth", other_faces=not args.best_box_only).save(sheet)
        print(f"wrote {out / 'predictions.json'} and {sheet}")
        return 0

    return run_main(run)


if __name__ == "__main__":
    sys.exit(main())
