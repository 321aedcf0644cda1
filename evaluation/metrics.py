"""One verification evaluation for every stage (scikit-learn metrics):
- LFW View 1: accuracy / ROC AUC / TAR at FAR 1% and 0.1% / EER on pairsDevTest, with the
  serving threshold (fitted for a false-match rate on held-out people) and with the protocol
  threshold (fitted on pairsDevTrain);
- the held-out CelebA benchmark (`data.heldout`): pairs, and the seed's 1 + 15 trials,
  plain and composited among other people."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from client.far import far_table, far_threshold
from data.heldout import TRIALS_FILE, load_heldout
from data.manifest import load_crops, read_manifest, read_pairs
from model.embedder import FaceEmbedder

DEFAULT_FAR = 0.001
# The false-match rates a threshold is stored for, beside the serving one: 1:N search against
# N enrolled embeddings needs about FAR / N per pair for the same share of strangers accepted.
TABLE_FARS = (1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6)
CALIBRATION_SPLITS = ("calibration", "celeba_calibration")  # people never trained on, not the test people


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold (a midpoint between sorted scores) that maximises accuracy."""
    scores, same = np.asarray(scores), np.asarray(same, dtype=bool)
    order = np.sort(np.unique(scores))
    candidates = np.concatenate([[order[0] - 1e-6], (order[:-1] + order[1:]) / 2, [order[-1] + 1e-6]])
    # right answers at each candidate, counted by binary search (fast for 10^6 pairs):
    # different pairs below it + same pairs at or above it
    different, genuine = np.sort(scores[~same]), np.sort(scores[same])
    right = (np.searchsorted(different, candidates, side="left")
             + len(genuine) - np.searchsorted(genuine, candidates, side="left"))
    return float(candidates[int(np.argmax(right))])


def verification_metrics(scores: np.ndarray, same: np.ndarray, threshold: float) -> dict:
    scores, same = np.asarray(scores, dtype=np.float64), np.asarray(same, dtype=bool)
    fpr, tpr, _ = roc_curve(same, scores)
    eer_index = int(np.argmin(np.abs(fpr - (1 - tpr))))
    return {
        "accuracy": float(np.mean((scores >= threshold) == same)),
        "roc_auc": float(roc_auc_score(same, scores)),
        "tar_at_far_1pct": float(np.interp(0.01, fpr, tpr)),
        "tar_at_far_0.1pct": float(np.interp(0.001, fpr, tpr)),
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


def embed_files(embedder: FaceEmbedder, cache_dir: str | Path, files: list[str]) -> dict[str, np.ndarray]:
    files = sorted(set(files))
    if not files:
        return {}
    return dict(zip(files, embedder.embed(load_crops(cache_dir, files, progress=False)), strict=False))


def all_pairs(embeddings: np.ndarray, identities: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Scores and same-person flags of every pair of distinct photos."""
    upper = np.triu_indices(len(identities), k=1)
    names = np.asarray(identities)
    return (embeddings @ embeddings.T)[upper], names[upper[0]] == names[upper[1]]


def calibrate(embedder: FaceEmbedder, cache_dir: str | Path, far: float = DEFAULT_FAR) -> dict:
    """The serving threshold: for a false-match rate of `far` on every impostor pair among the
    calibration people (held out of all training, disjoint from the test people)."""
    rows = [r for r in read_manifest(Path(cache_dir) / "manifest.csv") if r["split"] in CALIBRATION_SPLITS]
    vectors = embed_files(embedder, cache_dir, [r["file"] for r in rows])
    scores, same = all_pairs(np.stack([vectors[r["file"]] for r in rows]), [r["identity"] for r in rows])
    threshold = far_threshold(scores[~same], far)
    table = far_table(scores[~same], TABLE_FARS)
    return {"threshold": threshold, "far": far, "people": len({r["identity"] for r in rows}), "photos": len(rows),
            "impostor_pairs": int((~same).sum()), "genuine_pairs": int(same.sum()),
            "tar": float(np.mean(scores[same] >= threshold)) if same.any() else None, "far_thresholds": table}


def heldout_pairs(embedder: FaceEmbedder,
                  cache_dir: str | Path) -> tuple[list[dict], dict, np.ndarray, np.ndarray] | None:
    """The held-out CelebA people's photos (manifest rows), their embeddings, and the scores and
    same-person flags of every pair of them; None without such people (the smoke cache)."""
    rows = [r for r in read_manifest(Path(cache_dir) / "manifest.csv") if r["split"] == "celeba_test"]
    if len(rows) < 2:
        return None
    vectors = embed_files(embedder, cache_dir, [r["file"] for r in rows])
    scores, same = all_pairs(np.stack([vectors[r["file"]] for r in rows]), [r["identity"] for r in rows])
    return rows, vectors, scores, same


def benchmark_scores(embedder: FaceEmbedder, cache_dir: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Scores and same-person flags of the two benchmarks `evaluate` reports: LFW pairsDevTest
    and every pair of the held-out CelebA people (when the cache has them)."""
    test_pairs = read_pairs(cache_dir, "test")
    out = {"pairsDevTest": (pair_scores(embedder, cache_dir, test_pairs),
                             np.array([p[2] for p in test_pairs], dtype=bool))}
    heldout = heldout_pairs(embedder, cache_dir)
    if heldout is not None:
        out["held-out CelebA"] = heldout[2:]
    return out


def heldout_metrics(embedder: FaceEmbedder, cache_dir: str | Path, threshold: float) -> dict:
    """The held-out CelebA people: every pair, and the seed's 1 + 15 trials (pass: >= 3/5 of
    the person accepted and >= 6/10 others rejected; perfect: 15/15), plain and with each test
    photo composited among 1-2 other people (the best-scoring face of the photo counts)."""
    heldout = heldout_pairs(embedder, cache_dir)
    if heldout is None:  # a cache without held-out people (the smoke subset)
        rows = [r for r in read_manifest(Path(cache_dir) / "manifest.csv") if r["split"] == "celeba_test"]
        return {"people": len({r["identity"] for r in rows}), "photos": len(rows)}
    rows, vectors, scores, same = heldout
    result = {"people": len({r["identity"] for r in rows}), "photos": len(rows),
              "pairs": verification_metrics(scores, same, threshold)}
    if not (Path(cache_dir) / TRIALS_FILE).exists():
        return result
    trials, crops, owners = load_heldout(cache_dir)
    composite_vectors = embedder.embed(crops) if len(crops) else np.empty((0, 1))
    for kind in ("plain", "composited"):
        passed = perfect = right = total = 0
        for t, trial in enumerate(trials):
            reference = vectors[trial["reference"]]
            verdicts = []
            for j, test in enumerate(trial["tests"]):
                if kind == "plain":
                    score = float(reference @ vectors[test["file"]])
                else:
                    mine = composite_vectors[(owners[:, 0] == t) & (owners[:, 1] == j)]
                    score = float((mine @ reference).max()) if len(mine) else -1.0
                verdicts.append((score >= threshold) == test["same"])
            accepted = sum(v for v, test in zip(verdicts, trial["tests"], strict=False) if test["same"])
            rejected = sum(v for v, test in zip(verdicts, trial["tests"], strict=False) if not test["same"])
            passed += accepted >= 3 and rejected >= 6
            perfect += all(verdicts)
            right, total = right + sum(verdicts), total + len(verdicts)
        result[f"trials_{kind}"] = {"trials": len(trials), "passed": passed, "perfect": perfect,
                                    "pass_rate": passed / max(1, len(trials)),
                                    "perfect_rate": perfect / max(1, len(trials)),
                                    "verdict_accuracy": right / max(1, total)}
    return result


def evaluate(embedder: FaceEmbedder, cache_dir: str | Path, out_dir: str | Path | None = None,
             name: str = "model", far: float = DEFAULT_FAR, heldout: bool = True) -> dict:
    """Scores on the test pairs (pairsDevTest) with two thresholds:
    - `threshold`: the serving threshold, for a false-match rate `far` on the calibration people
      (`calibrate`: as new to the model as the test people); its figures are `accuracy` etc.;
    - `protocol_threshold`: fitted on pairsDevTrain for the best accuracy, as LFW View 1
      prescribes; its people are the fine-tuning identities.
    With `heldout`, the held-out CelebA benchmark at the serving threshold too. With out_dir,
    also write `<name>_roc.png` and `<name>_pairs.csv` (per-pair predictions)."""
    test_pairs = read_pairs(cache_dir, "test")
    same = np.array([p[2] for p in test_pairs], dtype=bool)
    test_scores = pair_scores(embedder, cache_dir, test_pairs)
    protocol_pairs = read_pairs(cache_dir, "protocol")
    protocol_same = np.array([p[2] for p in protocol_pairs], dtype=bool)
    protocol_scores = pair_scores(embedder, cache_dir, protocol_pairs)
    protocol = best_threshold(protocol_scores, protocol_same)
    calibration = calibrate(embedder, cache_dir, far)
    threshold = calibration.pop("threshold")
    metrics = verification_metrics(test_scores, same, threshold)
    metrics["threshold_source"] = (f"false-match rate {far:g} on {calibration['impostor_pairs']} impostor pairs of "
                                   f"{calibration['people']} held-out people (LFW calibration + CelebA calibration)")
    metrics["calibration"] = calibration
    metrics["protocol_threshold"] = protocol
    metrics["accuracy_protocol_threshold"] = float(np.mean((test_scores >= protocol) == same))
    metrics["threshold_pairs_accuracy"] = float(np.mean((protocol_scores >= protocol) == protocol_same))
    metrics["best_possible_accuracy"] = float(np.mean((test_scores >= best_threshold(test_scores, same)) == same))
    if heldout:
        metrics["heldout_celeba"] = heldout_metrics(embedder, cache_dir, threshold)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        with open(out / f"{name}_pairs.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["file_a", "file_b", "same", "score", "predicted_same"])
            for (a, b, s), score in zip(test_pairs, test_scores, strict=False):
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
