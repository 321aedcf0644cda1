"""`make evaluate`: the served model (weights/face_embedder.pt) on LFW View 1.

Threshold fit on pairsDevTrain, figures on pairsDevTest. Writes reports/metrics.json,
reports/roc.png, reports/pairs_predictions.csv and reports/predictions_10.json.

    python -m finetune.evaluate [--weights W] [--cache-dir C] [--reports R]
"""
from __future__ import annotations

import argparse
import csv
import json
import random
from pathlib import Path

from model.embedder import FaceEmbedder, load_backbone
from training.evaluation import evaluate, write_json
from training.params import load_params


def ten_predictions(pairs_csv: Path, seed: int = 0) -> list[dict]:
    """5 same and 5 different test pairs, drawn with a fixed seed, as people read them."""
    with open(pairs_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    rng = random.Random(seed)
    chosen = rng.sample([r for r in rows if r["same"] == "1"], 5) + rng.sample([r for r in rows if r["same"] == "0"], 5)
    return [{"photo_a": r["file_a"].removeprefix("faces/lfw/"), "photo_b": r["file_b"].removeprefix("faces/lfw/"),
             "score": round(float(r["score"]), 4), "prediction": "same" if r["predicted_same"] == "1" else "different",
             "truth": "same" if r["same"] == "1" else "different"} for r in chosen]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="weights/face_embedder.pt")
    parser.add_argument("--cache-dir")
    parser.add_argument("--reports", help="where the outputs go (default reports/, smoke: runs/smoke/reports/)")
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    cache_dir = Path(args.cache_dir or load_params("data", args.smoke)["cache_dir"])
    reports = Path(args.reports or ("runs/smoke/reports" if args.smoke else "reports"))  # smoke never overwrites committed reports
    backbone, meta = load_backbone(args.weights)
    metrics = evaluate(FaceEmbedder(backbone), cache_dir, out_dir=reports, name="test")
    (reports / "test_roc.png").replace(reports / "roc.png")
    (reports / "test_pairs.csv").replace(reports / "pairs_predictions.csv")
    metrics.update(model=meta.get("version", "unknown"), serving_threshold=meta.get("threshold"),
                   flip_fusion=True, command="make evaluate")
    write_json(reports / "metrics.json", metrics)
    write_json(reports / "predictions_10.json", {"threshold": metrics["threshold"],
                                                 "pairs": ten_predictions(reports / "pairs_predictions.csv")})
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
