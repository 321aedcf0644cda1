"""Read the face cache: manifest rows, splits and pairs.

Splits: `devtrain` (LFW peopleDevTrain), `calibration` (a seeded 15% of the peopleDevTrain
people, held out of fine-tuning to fit the serving threshold on unseen faces), `devtest`
(LFW peopleDevTest: evaluation only, never trained on), `celeba`, and two seeded shares of the
CelebA identities held out of everything: `celeba_calibration` (threshold fitting, with the LFW
calibration people) and `celeba_test` (the held-out benchmark). Pretraining (label-free) uses
devtrain + celeba (never the threshold's calibration people), fine-tuning devtrain (+ celeba identities when asked).
"""
from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

MANIFEST_FIELDS = ["file", "source", "identity", "split", "original", "detected", "confidence"]
PAIR_FIELDS = ["file_a", "file_b", "same"]
TRAINING_SPLITS = {"pretrain": ("devtrain", "celeba"), "finetune": ("devtrain",),
                   "finetune+celeba": ("devtrain", "celeba")}
HELD_OUT_SPLITS = ("devtest", "celeba_test", "celeba_calibration")  # never trained on, not even label-free


def read_manifest(path: str | Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def training_rows(cache_dir: str | Path, use: str) -> list[dict]:
    """Rows a training stage may see. Raises if a devtest person would leak in."""
    rows = [r for r in read_manifest(Path(cache_dir) / "manifest.csv") if r["split"] in TRAINING_SPLITS[use]]
    if any(r["split"] in HELD_OUT_SPLITS for r in rows):
        raise AssertionError("a held-out photo (peopleDevTest or held-out CelebA) reached a training split")
    return rows


PAIR_KINDS = ("protocol", "calibration", "test")
OLD_PAIR_FILES = {"protocol": "pairs_threshold.csv"}  # caches built before the rename


def pairs_file(cache_dir: str | Path, kind: str) -> Path:
    """<cache>/pairs_<kind>.csv (the name the data stage writes; an older cache's name if only that exists)."""
    path = Path(cache_dir) / f"pairs_{kind}.csv"
    if not path.exists() and kind in OLD_PAIR_FILES and (Path(cache_dir) / OLD_PAIR_FILES[kind]).exists():
        return Path(cache_dir) / OLD_PAIR_FILES[kind]
    return path


def read_pairs(cache_dir: str | Path, kind: str) -> list[tuple[str, str, int]]:
    """The face cache's pair list (photo a, photo b, same). kind: `protocol` (LFW pairsDevTrain: only
    the View 1 protocol threshold is fitted there), `calibration` (the held-out calibration people:
    the serving threshold) or `test` (pairsDevTest)."""
    with open(pairs_file(cache_dir, kind), newline="") as handle:
        return [(r["file_a"], r["file_b"], int(r["same"])) for r in csv.DictReader(handle)]


def load_crops(cache_dir: str | Path, files: list[str], progress: bool = True) -> np.ndarray:
    """N x 112 x 112 x 3 BGR uint8, decoded once into memory (the whole cache is ~0.7 GB)."""
    iterator = tqdm(files, desc="load crops", unit="face", disable=not progress)
    return np.stack([cv2.imread(str(Path(cache_dir) / f), cv2.IMREAD_COLOR) for f in iterator])
