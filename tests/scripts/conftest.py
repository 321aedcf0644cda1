"""Replicas behind nginx for the tests: `python -m scripts.replicas` (what `make serve
REPLICAS=N` runs) with its own ports, state folder, key file and model store."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # replica_support, whatever the import mode
from replica_support import REPO, free_block, nginx_present  # noqa: E402

from tests.conftest import build_archives  # noqa: E402


@pytest.fixture(scope="session")
def replica_service(tmp_path_factory):
    """Two replicas behind nginx. Yields (state_dir, front URL, key file, the CLI's arguments)."""
    if not nginx_present():
        pytest.skip("nginx is missing (scripts/check_nginx.sh installs it)")
    if shutil.which("java") is None:
        pytest.skip("TorchServe needs Java >= 11 on PATH (make install / scripts/check_java.sh)")
    work = tmp_path_factory.mktemp("replicas")
    store = work / "model_store"
    build_archives(store)
    base = free_block(30)
    cli = [sys.executable, "-m", "scripts.replicas"]
    options = ["--state-dir", str(work / "state"), "--key-file", str(work / "key_file.json"),
               "--front", f"127.0.0.1:{base + 25}", "--base-port", str(base), "--model-store", str(store)]
    # A longer wait for the models than `make serve`'s: the tests share the machine's cores.
    # Replica 1 loads face-gallery: its galleries in this test's folder, not the user's.
    env = {**os.environ, "FACE_GALLERY_ROOT": str(work / "galleries")}
    started = subprocess.run([*cli, "start", "--replicas", "2", "--timeout", "330", *options], cwd=REPO,
                             capture_output=True, text=True, timeout=400, env=env)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield {"state_dir": work / "state", "front": f"http://127.0.0.1:{base + 25}",
               "key_file": work / "key_file.json", "cli": cli, "options": options, "start_output": started.stdout,
               "gallery_root": work / "galleries"}
    finally:
        subprocess.run([*cli, "stop", *options], cwd=REPO, capture_output=True, timeout=400)
