"""Fixtures for the client tests: a scripted stub server and a clean token environment."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # stub_http, whatever the import mode
from stub_http import StubServer  # noqa: E402


@pytest.fixture(autouse=True)
def _no_token_env(monkeypatch):
    """The caller's FACE_VERIFY_* variables must not leak into the tests."""
    for name in ("FACE_VERIFY_TOKEN", "FACE_VERIFY_KEY_FILE", "FACE_VERIFY_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def isolated_cwd(tmp_path, monkeypatch):
    """No key_file.json (nor threshold file) where the client looks by default."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def stub():
    with StubServer() as server:
        yield server
