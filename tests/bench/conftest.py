"""The committed weights, for the in-process bench smoke run."""
from __future__ import annotations

from pathlib import Path

import pytest

WEIGHTS = Path(__file__).resolve().parents[2] / "weights" / "face_embedder.pt"


@pytest.fixture(scope="session")
def committed_model_dir() -> Path:
    if not WEIGHTS.is_file():
        pytest.skip(f"{WEIGHTS} is missing")
    return WEIGHTS.parent
