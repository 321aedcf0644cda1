"""Shared fixtures. Tests that need LFW/CelebA skip with a clear reason when DATA_DIR
(default ../shared/data) is absent; the rest use photos shipped inside scikit-image."""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import psutil
import pytest
import requests

REPO = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DATA_DIR", REPO.parent / "shared" / "data")).resolve()  # absolute: subprocess tests change cwd
HAS_DATA = (DATA_DIR / "lfw" / "peopleDevTest.txt").exists()
needs_data = pytest.mark.skipif(not HAS_DATA, reason=f"LFW/CelebA not found at {DATA_DIR} (set DATA_DIR)")


def iou(a, b) -> float:
    """Intersection over union of two [x, y, w, h] boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not HAS_DATA:
        pytest.skip(f"LFW/CelebA not found at {DATA_DIR} (set DATA_DIR)")
    return DATA_DIR


@pytest.fixture(scope="session")
def smoke_cache(data_dir, tmp_path_factory) -> Path:
    """The aligned-face cache built from a few hundred real photos (the smoke subset)."""
    from data.face_cache import build
    from training.params import load_params

    params = load_params("data", smoke=True)
    cache = tmp_path_factory.mktemp("face_cache")
    build(data_dir, cache, params["subset_pairs"], workers=1, quality=params["jpeg_quality"],
          calibration=params["calibration"])
    return cache


@pytest.fixture(scope="session")
def astronaut_bgr() -> np.ndarray:
    from skimage import data

    return cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)


@pytest.fixture(scope="session")
def detector():
    from model.detection import FaceDetector

    return FaceDetector()


# ---------------------------------------------------------------------------------------
# TorchServe for the integration tests (tests/handler/test_server.py, tests/client/).

VENV_BIN = Path(sys.executable).parent  # the venv running the tests
TORCHSERVE = VENV_BIN / "torchserve"
START_TIMEOUT = 150


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def build_archives(store: Path) -> None:
    """face-verify.mar and face-embed.mar in `store`, built as `make archive` builds them."""
    env = {**os.environ, "VENV": str(VENV_BIN.parent)}
    for name in ("face-verify", "face-embed"):
        subprocess.run(["bash", "archive/archive.sh", name, str(store)], cwd=REPO, env=env,
                       check=True, capture_output=True)


def server_config(store: Path, ports: list[int]) -> str:
    """config.properties with this test's ports and model store; security settings kept."""
    text = (REPO / "config.properties").read_text()
    for key in ("disable_token_authorization=false", "enable_model_api=false",
                "default_workers_per_model=1", "install_py_dep_per_model=false"):
        assert re.search(rf"^{re.escape(key)}$", text, re.M), f"config.properties lacks {key}"
    for key, port in zip(("inference_address", "management_address", "metrics_address"), ports, strict=False):
        text, n = re.subn(rf"^{key}=http://127\.0\.0\.1:\d+$", f"{key}=http://127.0.0.1:{port}", text, flags=re.M)
        assert n == 1, f"config.properties: {key} is not http://127.0.0.1:<port>"
    text, n = re.subn(r"^model_store=.*$", f"model_store={store}", text, flags=re.M)
    assert n == 1
    # gRPC (always on in TorchServe 0.12) on free ports too: 7070/7071 may be `make serve`'s.
    for key, port in zip(("grpc_inference_port", "grpc_management_port"), free_ports(2), strict=False):
        text, n = re.subn(rf"^{key}=\d+$", f"{key}={port}", text, flags=re.M)
        if n == 0:
            text += f"\n{key}={port}\n"
    return text


class Running:
    def __init__(self, workdir: Path, ports: list[int], env: dict) -> None:
        self.workdir, self.env = workdir, env
        self.inference, self.management, self.metrics = (f"http://127.0.0.1:{p}" for p in ports)
        self.keys: dict = {}

    def load_keys(self) -> bool:
        try:
            self.keys = json.loads((self.workdir / "key_file.json").read_text())
            return True
        except (OSError, ValueError):
            return False

    @property
    def base_url(self) -> str:
        return self.inference

    @property
    def token(self) -> str:
        """The inference key (what FaceClient(base_url, token=...) needs)."""
        return self.keys["inference"]["key"]

    @property
    def auth(self) -> dict:
        return {"Authorization": f"Bearer {self.keys['inference']['key']}"}

    @property
    def management_auth(self) -> dict:
        return {"Authorization": f"Bearer {self.keys['management']['key']}"}

    def ready(self) -> bool:
        if not self.load_keys():
            return False
        try:
            ping = requests.get(f"{self.inference}/ping", headers=self.auth, timeout=5)
            if ping.status_code != 200 or ping.json().get("status") != "Healthy":
                return False
            for model in ("face-verify", "face-embed"):
                described = requests.get(f"{self.management}/models/{model}",
                                         headers=self.management_auth, timeout=5).json()
                if not any(w["status"] == "READY" for w in described[0]["workers"]):
                    return False
            return True
        except (requests.RequestException, ValueError, KeyError, IndexError):
            return False

    def pid(self) -> int | None:
        try:
            return int((Path(self.env["TMPDIR"]) / ".model_server.pid").read_text())
        except (OSError, ValueError):
            return None

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for name in ("serve.out", "logs/ts_log.log", "logs/model_log.log"):
            path = self.workdir / name
            if path.is_file():
                out.append(f"--- {name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(out)

    def verify(self, files: dict, **kwargs) -> requests.Response:
        return requests.post(f"{self.inference}/predictions/face-verify", files=files,
                             headers=self.auth, timeout=120, **kwargs)


@pytest.fixture(scope="session")
def torchserve_server(tmp_path_factory):
    """One real TorchServe for the whole test session (integration tests): the .mar files
    built with the command `make archive` runs, config.properties with free ports and its
    security settings kept, started in a temp folder. `.base_url` + `.token` are what a
    client needs. Skipped without Java."""
    if shutil.which("java") is None:
        pytest.skip("TorchServe needs Java >= 11 on PATH (make install / scripts/check_java.sh)")
    if not TORCHSERVE.exists():
        pytest.skip(f"{TORCHSERVE} is missing (make install)")
    workdir = tmp_path_factory.mktemp("torchserve")
    store = workdir / "model_store"
    build_archives(store)
    ports = free_ports(3)
    config = workdir / "config.properties"
    config.write_text(server_config(store, ports))
    # A private temp dir: TorchServe's pid file and worker sockets live there (short path:
    # unix socket names are limited to ~100 characters).
    private_tmp = tempfile.mkdtemp(prefix="ts-test-", dir="/tmp")
    env = {**os.environ, "VENV": str(VENV_BIN.parent), "TMPDIR": private_tmp, "TEMP": private_tmp,
           "LOG_LOCATION": str(workdir / "logs"), "METRICS_LOCATION": str(workdir / "logs"),
           "PATH": f"{VENV_BIN}:{os.environ['PATH']}"}
    running = Running(workdir, ports, env)
    started = time.monotonic()
    with open(workdir / "serve.out", "w") as out:
        subprocess.run([str(TORCHSERVE), "--start", "--ncs", "--ts-config", str(config),
                        "--model-store", str(store),
                        "--models", "face-verify=face-verify.mar", "face-embed=face-embed.mar"],
                       cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    java_pid = running.pid()
    try:
        while not running.ready():
            alive = java_pid is not None and psutil.pid_exists(java_pid)
            if not alive or time.monotonic() - started > START_TIMEOUT:
                pytest.fail(f"TorchServe did not become ready (alive={alive}):\n{running.log_tail()}")
            time.sleep(0.5)
        running.start_seconds = time.monotonic() - started
        print(f"\nTorchServe ready in {running.start_seconds:.1f}s")
        yield running
    finally:
        stop_torchserve(running, java_pid)
        shutil.rmtree(private_tmp, ignore_errors=True)


def stop_torchserve(running: Running, java_pid: int | None) -> None:
    children = []
    if java_pid is not None and psutil.pid_exists(java_pid):
        try:
            children = psutil.Process(java_pid).children(recursive=True)
        except psutil.Error:
            pass
    subprocess.run([str(TORCHSERVE), "--stop"], cwd=running.workdir, env=running.env,
                   capture_output=True, check=False, timeout=60)
    processes = ([psutil.Process(java_pid)] if java_pid and psutil.pid_exists(java_pid) else []) + children
    _, alive = psutil.wait_procs(processes, timeout=30)
    for process in alive:  # only what this fixture started
        try:
            process.kill()
        except psutil.Error:
            pass
