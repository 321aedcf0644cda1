"""Read a stage's section of params.yaml (plus its smoke overrides)."""
from __future__ import annotations

from pathlib import Path

import yaml

PARAMS_FILE = Path(__file__).resolve().parent.parent / "params.yaml"


def load_params(section: str, smoke: bool = False, path: str | Path = PARAMS_FILE) -> dict:
    with open(path) as handle:
        params = dict(yaml.safe_load(handle)[section])
    overrides = params.pop("smoke", {}) or {}
    if smoke:
        params.update(overrides)
    params["smoke"] = smoke
    return params
