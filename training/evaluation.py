"""One verification evaluation for every stage: LFW View 1 pairs, threshold fit on
pairsDevTrain, accuracy / ROC AUC / TAR@FAR=1% / EER on pairsDevTest (scikit-learn)."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from model.embedder import FaceEmbedder
from training.manifest import load_crops, read_pairs


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold (a midpoint between sorted scores) that maximises accuracy."""
    order = np.sort(np.unique(scores))
    candidates = np.concatenate([[order[0] - 1e-6], (order[:-1] + order[1:]) / 2, [order[-1] + 1e-6]])
    accuracies = [np.mean((scores >= t) == same) for t in candidates]
    return float(candidates[int(np.argmax(accuracies))])


def verification_metrics(scores: np.ndarray, same: np.ndarray, threshold: float) -> dict:
    scores, same = np.asarray(scores, dtype=np.float64), np.asarray(same, dtype=bool)
    fpr, tpr, _ = roc_curve(same, scores)
    eer_index = int(np.argmin(np.abs(fpr - (1 - tpr))))
    return {
        "accuracy": float(np.mean((scores >= threshold) == same)),
        "roc_auc": float(roc_auc_score(same, scores)),
        "tar_at_far_1pct": float(np.interp(0.01, fpr, tpr)),
        "eer": float((fpr[eer_index] + 1 - tpr[eer_index]) / 2),
        "threshold": float(threshold),
        "pairs": int(len(same)),
    }


def pair_scores(embedder: FaceEmbedder, cache_dir: str | Path, pairs: list[tuple[str, str, int]],
                progress: bool = False) -> np.ndarray:
    files = sorted({f for a, b, _ in pairs for f in (a, b)})
    index = {f: i for i, f in enumerate(files)}
    embeddings = embedder.embed(load_crops(cache_dir, files, progress=progress))
    a = embeddings[[index[p[0]] for p in pairs]]
    b = embeddings[[index[p[1]] for p in pairs]]
    return np.sum(a * b, axis=1)


def evaluate(embedder: FaceEmbedder, cache_dir: str | Path, out_dir: str | Path | None = None,
             name: str = "model") -> dict:
    """Scores on the test pairs (pairsDevTest) with two thresholds:
    - `threshold`: fitted on the calibration pairs (people held out of fine-tuning, so as new
      to the model as the test people); this is the serving threshold and `accuracy`;
    - `protocol_threshold`: fitted on pairsDevTrain as LFW View 1 prescribes; its people are the
      fine-tuning identities, so it is biased towards faces the model has learned.
    With out_dir, also write `<name>_roc.png` and `<name>_pairs.csv` (per-pair predictions)."""
    test_pairs = read_pairs(cache_dir, "test")
    same = np.array([p[2] for p in test_pairs], dtype=bool)
    test_scores = pair_scores(embedder, cache_dir, test_pairs)
    fitted = {}
    for kind in ("calibration", "threshold"):
        if (Path(cache_dir) / f"pairs_{kind}.csv").exists():
            pairs = read_pairs(cache_dir, kind)
            labels = np.array([p[2] for p in pairs], dtype=bool)
            scores = pair_scores(embedder, cache_dir, pairs)
            threshold = best_threshold(scores, labels)
            fitted[kind] = (threshold, float(np.mean((scores >= threshold) == labels)))
    threshold_kind = "calibration" if "calibration" in fitted else "threshold"
    threshold = fitted[threshold_kind][0]
    metrics = verification_metrics(test_scores, same, threshold)
    metrics["threshold_source"] = {"calibration": "held-out peopleDevTrain people",
                                   "threshold": "pairsDevTrain"}[threshold_kind]
    metrics["protocol_threshold"] = fitted["threshold"][0]
    metrics["accuracy_protocol_threshold"] = float(np.mean((test_scores >= fitted["threshold"][0]) == same))
    metrics["threshold_pairs_accuracy"] = fitted["threshold"][1]
    if "calibration" in fitted:
        metrics["calibration_pairs_accuracy"] = fitted["calibration"][1]
    metrics["best_possible_accuracy"] = float(np.mean((test_scores >= best_threshold(test_scores, same)) == same))
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / f"{name}_pairs.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file_a", "file_b", "same", "score", "predicted_same"])
            for (a, b, s), score in zip(test_pairs, test_scores):
                writer.writerow([a, b, s, f"{score:.5f}", int(score >= threshold)])
        plot_roc({name: (test_scores, same)}, out / f"{name}_roc.png")
    return metrics


def plot_roc(curves: dict[str, tuple[np.ndarray, np.ndarray]], path: str | Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    for label, (scores, same) in curves.items():
        fpr, tpr, _ = roc_curve(same, scores)
        ax.plot(fpr, tpr, label=f"{label} (AUC {roc_auc_score(same, scores):.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="false accept rate", ylabel="true accept rate", title="ROC on LFW pairsDevTest")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_json(path: str | Path, data: dict) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(data, indent=2) + "\n")
