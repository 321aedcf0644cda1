"""Fixtures of the pipeline tests; the helpers are in pipeline_support.py."""
from __future__ import annotations

from pathlib import Path

import pytest
from pipeline_support import DATA_DIR, Pipeline, make_fresh_clone, real_params


@pytest.fixture(scope="session")
def pipeline() -> Pipeline:
    """dvc.yaml resolved with params.yaml."""
    return Pipeline(real_params())


@pytest.fixture
def fresh_clone(tmp_path) -> Path:
    """This working tree as a clone would hold it (no cache/, runs/), data.data_dir -> $DATA_DIR."""
    return make_fresh_clone(tmp_path / "clone", DATA_DIR.resolve())
