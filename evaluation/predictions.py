"""The per-pair predictions CSV an evaluation writes (`<name>_pairs.csv`, reports/pairs_predictions.csv:
file_a, file_b, same, score, predicted_same), read back for ROC curves. Only csv + numpy: the
report reads it without torch."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np


def read_predictions(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Scores and truths (same person) of a predictions CSV."""
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    return np.array([float(r["score"]) for r in rows]), np.array([r["same"] == "1" for r in rows])
