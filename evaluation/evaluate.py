"""`make evaluate`: the served model (weights/face_embedder.pt) on LFW View 1 and the
held-out CelebA benchmark, embedded as the weights say (flip fusion) and at the threshold
fitted again on the held-out calibration people, by the rule (client/far.py) and for the
false-match rate stored with the weights: the value stored with them, which metrics.json
repeats as `serving_threshold`.

Writes reports/metrics.json (with a threshold -> false-match / true-match table over every
pair of peopleDevTest photos), reports/roc.png, reports/pairs_predictions.csv and
reports/predictions_10.json.

    python -m evaluation.evaluate [--weights W] [--cache-dir C] [--reports R]
"""
from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import numpy as np

from data.manifest import read_manifest
from evaluation.metrics import DEFAULT_FAR, all_pairs, embed_files, evaluate, write_json
from model.embedder import FaceEmbedder, ModelFacts, load_backbone
from training.outputs import cache_dir as stage_cache_dir
from training.outputs import reports_dir, stage_arguments


def ten_predictions(pairs_csv: Path, seed: int = 0) -> list[dict]:
    """5 same and 5 different test pairs, drawn with a fixed seed, as people read them."""
    with open(pairs_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    rng = random.Random(seed)
    chosen = rng.sample([r for r in rows if r["same"] == "1"], 5) + rng.sample([r for r in rows if r["same"] == "0"], 5)
    return [{"photo_a": r["file_a"].removeprefix("faces/lfw/"), "photo_b": r["file_b"].removeprefix("faces/lfw/"),
             "score": round(float(r["score"]), 4), "prediction": "same" if r["predicted_same"] == "1" else "different",
             "truth": "same" if r["same"] == "1" else "different"} for r in chosen]


def threshold_table(embedder: FaceEmbedder, cache_dir: Path, thresholds: list[float]) -> dict:
    """False-match and true-match rates on every pair of LFW peopleDevTest photos (the test
    people: millions of impostor pairs, so rates down to 1e-6 are measured, not extrapolated)."""
    rows = [r for r in read_manifest(cache_dir / "manifest.csv") if r["split"] == "devtest"]
    vectors = embed_files(embedder, cache_dir, [r["file"] for r in rows])
    scores, same = all_pairs(np.stack([vectors[r["file"]] for r in rows]), [r["identity"] for r in rows])
    impostor, genuine = np.sort(scores[~same]), np.sort(scores[same])
    table = [{"threshold": round(t, 4),
              "far": float(1 - np.searchsorted(impostor, t, side="left") / len(impostor)),
              "tar": float(1 - np.searchsorted(genuine, t, side="left") / len(genuine))} for t in sorted(thresholds)]
    return {"photos": len(rows), "impostor_pairs": len(impostor), "genuine_pairs": len(genuine), "rows": table}


def main() -> None:
    parser = stage_arguments(__doc__.splitlines()[0])
    parser.add_argument("--weights", default="weights/face_embedder.pt")
    args = parser.parse_args()
    cache_dir = stage_cache_dir(args)
    reports = reports_dir(args.smoke, args.reports)
    backbone, meta = load_backbone(args.weights)
    facts = ModelFacts.of(meta, backbone.state_dict())
    embedder = FaceEmbedder(backbone, flip=facts.flip)
    metrics = evaluate(embedder, cache_dir, out_dir=reports, name="test", far=facts.threshold_far or DEFAULT_FAR)
    (reports / "test_roc.png").replace(reports / "roc.png")
    (reports / "test_pairs.csv").replace(reports / "pairs_predictions.csv")
    grid = [round(0.2 + 0.05 * i, 2) for i in range(9)] + [metrics["threshold"], metrics["protocol_threshold"]]
    metrics.update(model=facts.version, serving_threshold=facts.fitted_threshold,
                   flip_fusion=embedder.flip, threshold_table=threshold_table(embedder, cache_dir, grid),
                   command="make evaluate")
    write_json(reports / "metrics.json", metrics)
    write_json(reports / "predictions_10.json", {"threshold": metrics["threshold"],
                                                 "pairs": ten_predictions(reports / "pairs_predictions.csv")})
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
