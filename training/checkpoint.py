"""Resumable training state: model, optimiser, scheduler, progress and RNG, in one file.
Written atomically so a kill mid-save never leaves a broken checkpoint."""
from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch


def save_state(path: str | Path, **state) -> None:
    """state: nn.Modules / optimisers / schedulers (saved via state_dict) and plain values."""
    payload = {k: (v.state_dict() if hasattr(v, "state_dict") else v) for k, v in state.items()}
    payload["rng"] = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                      "python": random.getstate()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_state(path: str | Path, **objects) -> dict:
    """Loads into the given objects in place; returns the plain values."""
    payload = torch.load(path, map_location="cpu", weights_only=False)
    for key, obj in objects.items():
        obj.load_state_dict(payload[key])
    rng = payload.pop("rng")
    torch.set_rng_state(rng["torch"])
    np.random.set_state(rng["numpy"])
    random.setstate(rng["python"])
    return {k: v for k, v in payload.items() if k not in objects}


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
