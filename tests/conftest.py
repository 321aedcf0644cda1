"""Shared fixtures. Tests that need LFW/CelebA skip with a clear reason when DATA_DIR
(default ../shared/data) is absent; the rest use photos shipped inside scikit-image."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests

from scripts.torchserve import KEY_KINDS, TorchServe, model_archives, read_config, write_config

REPO = Path(__file__).resolve().parent.parent
# absolute: subprocess tests change cwd
DATA_DIR = Path(os.environ.get("DATA_DIR", REPO.parent / "shared" / "data")).resolve()
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
# TorchServe for the integration tests (tests/handler/test_server.py, tests/client/): the
# project's one TorchServe life cycle (scripts/torchserve.py) in a temp folder.

VENV_BIN = Path(sys.executable).parent  # the venv running the tests
START_TIMEOUT = 150


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def build_archives(store: Path, models: Iterable[str] | None = None) -> None:
    """The archives of `models` (default: every one config.properties loads: face-verify.mar,
    face-embed.mar, ...) in `store`, built as `make archive` builds them."""
    env = {**os.environ, "VENV": str(VENV_BIN.parent)}
    for name in models or model_archives(read_config(REPO / "config.properties")):
        subprocess.run(["bash", "archive/archive.sh", name, str(store)], cwd=REPO, env=env,
                       check=True, capture_output=True)


def server_config(store: Path, target: Path, ports: list[int] | None = None,
                  extra: Mapping[str, object] | None = None) -> Path:
    """config.properties at `target` with `ports` (inference, management, metrics; default free
    ones), free gRPC ports (7070/7071 may be `make serve`'s), this model store and the `extra`
    settings; the security settings are kept (write_config checks them)."""
    settings = read_config(REPO / "config.properties")
    for key, value in (("default_workers_per_model", "1"), ("install_py_dep_per_model", "false")):
        assert settings.get(key) == value, f"config.properties lacks {key}={value}"
    inference, management, metrics = ports or free_ports(3)
    return write_config(REPO / "config.properties", target, inference=f"http://127.0.0.1:{inference}",
                        management=f"http://127.0.0.1:{management}", metrics=f"http://127.0.0.1:{metrics}",
                        grpc_ports=tuple(free_ports(2)), model_store=store, extra=extra)


class ServedForTests(TorchServe):
    """A TorchServe with what the tests ask of a server: a client's `base_url` + `token`, auth
    headers, the whole key file, verify(), its start time."""

    start_seconds: float | None = None

    @property
    def env(self) -> dict[str, str]:
        """TorchServe's environment, with face-gallery's galleries in the server's temp folder
        (never the user's)."""
        return super().env | {"FACE_GALLERY_ROOT": str(self.folder / "galleries")}

    @property
    def workdir(self) -> Path:
        return self.folder

    @property
    def base_url(self) -> str:
        return self.inference

    @property
    def token(self) -> str:
        """The inference key (what FaceClient(base_url, token=...) needs)."""
        return self.key("inference")

    @property
    def auth(self) -> dict:
        return self.headers("inference")

    @property
    def management_auth(self) -> dict:
        return self.headers("management")

    @property
    def keys(self) -> dict:
        """{kind: {"key": ...}} for the keys the server has written, read now."""
        return {kind: {"key": key} for kind in KEY_KINDS if (key := self.key(kind)) is not None}

    def load_keys(self) -> bool:
        """Whether the server has written its keys."""
        return self.key("inference") is not None

    def pid(self) -> int | None:
        return self.frontend_pid()

    def verify(self, files: dict, **kwargs) -> requests.Response:
        return requests.post(f"{self.inference}/predictions/face-verify", files=files,
                             headers=self.auth, timeout=120, **kwargs)


@pytest.fixture(scope="session")
def torchserve_server(tmp_path_factory):
    """One real TorchServe for the whole test session (integration tests): the .mar files
    built with the command `make archive` runs, config.properties with free ports and its
    security settings kept, started in a temp folder. `.base_url` + `.token` are what a
    client needs. Skipped without Java."""
    skip_without_torchserve()
    workdir = tmp_path_factory.mktemp("torchserve")
    store = workdir / "model_store"
    build_archives(store)
    yield from serving(ServedForTests(workdir, server_config(store, workdir / "config.properties"),
                                      venv_bin=VENV_BIN, tmp_prefix="ts-test-"))


def skip_without_torchserve() -> None:
    if shutil.which("java") is None:
        pytest.skip("TorchServe needs Java >= 11 on PATH (make install / scripts/check_java.sh)")
    if not (VENV_BIN / "torchserve").exists():
        pytest.skip(f"{VENV_BIN / 'torchserve'} is missing (make install)")


def serving(server: ServedForTests) -> Iterator[ServedForTests]:
    """A fixture's server: started, yielded once ready (the test fails if it is not within
    START_TIMEOUT seconds), stopped afterwards."""
    try:
        server.start()
        server.start_seconds = server.wait_ready(START_TIMEOUT)
        if server.start_seconds is None:
            pytest.fail(f"TorchServe did not become ready (alive={server.frontend_pid() is not None}):\n"
                        f"{server.log_tail(30)}")
        print(f"\nTorchServe ready in {server.start_seconds:.1f}s")
        yield server
    finally:
        server.stop()
