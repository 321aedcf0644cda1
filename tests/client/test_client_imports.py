"""The client needs only requests + pydantic: no torch, no `model`, no numpy / Pillow."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_client_imports_neither_torch_nor_model():
    modules = imported_after("import client, client.cli, client.photos, client.__main__")
    assert "torch" not in modules
    assert not any(m == "model" or m.startswith("model.") for m in modules)
    assert "numpy" not in modules and "PIL" not in modules  # imported lazily, only when used
    assert "requests" in modules and "pydantic" in modules


def test_cli_help_runs_without_a_server():
    out = subprocess.run([sys.executable, "-m", "client", "verify", "--help"], cwd=REPO,
                         capture_output=True, text=True, check=True)
    assert "reference" in out.stdout and "--threshold" in out.stdout
