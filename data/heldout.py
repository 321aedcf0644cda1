"""The held-out CelebA benchmark's fixed material, built once by `make data`
(`data.heldout_build`): the seed protocol's 1 + 15 trials over every held-out identity
with >= 6 photos, and each trial's test photos composited beside 1-2 photos of other
held-out people on a cluttered canvas, detected and aligned (every face found), so that
scoring a model needs no detection.

<cache>/heldout_trials.json and <cache>/heldout_composites.npz.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

TRIALS_FILE, COMPOSITES_FILE = "heldout_trials.json", "heldout_composites.npz"


def load_heldout(cache_dir: Path) -> tuple[list[dict], np.ndarray, np.ndarray]:
    trials = json.loads((Path(cache_dir) / TRIALS_FILE).read_text())
    with np.load(Path(cache_dir) / COMPOSITES_FILE) as archive:
        return trials, archive["crops"], archive["owners"]
