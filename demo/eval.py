"""The 1 + 15 protocol over many seeded sets from LFW peopleDevTest.

    python -m demo.eval --sets 50

Set k uses seed `--seed-start + k` (the same sets `python -m demo.run --seed S` shows).
Reports the share of sets meeting the requirement (>= 3/5 same accepted and >= 6/10
others rejected), the share with 15/15, and the mean accepted / rejected counts, to
runs/demo_eval.json (--refresh-examples: the committed reports/demo_eval.json).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from tqdm import tqdm

from client.cli.terminal import glue_token
from data.lfw_sampling import (
    OTHERS,
    REQUIRED_ACCEPTED,
    REQUIRED_REJECTED,
    SAME,
    load_devtest_people,
    sample_set,
    score_set,
)
from demo.common import add_client_args, data_dir, make_client, output_path, run_main, verify_all


def summarize(per_set: list[dict], same_scores: list[float | None], other_scores: list[float | None]) -> dict:
    n = len(per_set)

    def share(key: str) -> float:
        return sum(s[key] for s in per_set) / n

    def scores(values: list[float | None]) -> dict:
        found = [v for v in values if v is not None]
        return {"photos": len(values), "no_face": len(values) - len(found),
                "mean": statistics.fmean(found) if found else None,
                "min": min(found) if found else None, "max": max(found) if found else None}

    return {
        "sets": n,
        "share_meeting_requirement": share("meets_requirement"),
        "share_perfect": share("perfect"),
        "mean_accepted": statistics.fmean(s["accepted"] for s in per_set),
        "mean_rejected": statistics.fmean(s["rejected"] for s in per_set),
        "min_accepted": min(s["accepted"] for s in per_set),
        "min_rejected": min(s["rejected"] for s in per_set),
        "true_accept_rate": sum(s["accepted"] for s in per_set) / sum(s["same"] for s in per_set),
        "true_reject_rate": sum(s["rejected"] for s in per_set) / sum(s["different"] for s in per_set),
        "same_scores": scores(same_scores),
        "other_scores": scores(other_scores),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.eval", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", type=int, default=50, help="number of seeded sets (default 50)")
    parser.add_argument("--seed-start", type=int, default=0, help="seed of the first set (default 0)")
    parser.add_argument("--out", type=Path, default=None,
                        help="default runs/demo_eval.json; reports/demo_eval.json with --refresh-examples")
    add_client_args(parser)
    args = parser.parse_args(glue_token(sys.argv[1:] if argv is None else list(argv)))
    if args.sets < 1:
        parser.error("--sets must be >= 1")

    def run() -> int:
        root = data_dir(args)
        people = load_devtest_people(root)
        per_set, same_scores, other_scores = [], [], []
        model = threshold = None
        with make_client(args) as client:
            for seed in tqdm(range(args.seed_start, args.seed_start + args.sets), desc="sets", unit="set"):
                demo_set = sample_set(people, root, seed)
                result = verify_all(client, demo_set.reference, demo_set.tests, args.threshold)
                model, threshold = result.model, result.threshold
                row = {"seed": seed, "person": demo_set.reference_person} | score_set(demo_set, result.match_flags)
                row["wrong"] = [{"file": path.name, "truth_same": same, "score": r.score, "faces": r.faces}
                                for path, same, r in zip(demo_set.tests, demo_set.same, result.results, strict=False)
                                if r.match != same]
                per_set.append(row)
                for same, r in zip(demo_set.same, result.results, strict=False):
                    (same_scores if same else other_scores).append(r.score)
        report = {
            "model": model, "threshold": threshold, "data": "LFW peopleDevTest, people with >= 6 photos",
            "protocol": {"same": SAME, "others": OTHERS, "required_accepted": REQUIRED_ACCEPTED,
                         "required_rejected": REQUIRED_REJECTED, "seed_start": args.seed_start},
            **summarize(per_set, same_scores, other_scores),
            "per_set": per_set,
        }
        out = output_path(args, "demo_eval.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
        print(f"{report['sets']} sets, model {model}, threshold {threshold:.4f}")
        print(f"meeting the requirement (>= {REQUIRED_ACCEPTED}/{SAME} accepted, >= {REQUIRED_REJECTED}/{OTHERS} "
              f"rejected): {report['share_meeting_requirement']:.0%}")
        print(f"perfect 15/15: {report['share_perfect']:.0%}")
        print(f"mean accepted {report['mean_accepted']:.2f}/{SAME}, "
              f"mean rejected {report['mean_rejected']:.2f}/{OTHERS}")
        print(f"wrote {out}")
        return 0

    return run_main(run)


if __name__ == "__main__":
    sys.exit(main())
