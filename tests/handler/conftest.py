"""Fixtures for the serving tests: real photos (scikit-image's bundled samples, no dataset),
handlers built the way TorchServe builds them, and a checkpoint with useful features.

The committed weights may be a random-init placeholder whose embeddings are all alike, so
tests that compare scores use `feature_model_dir`: the same architecture, random init, with
its batch-norm statistics measured on a few crops, i.e. a fixed random-feature network under
which a copy of a face is nearer the face than another person is. Tests of the response
format use the committed weights (`committed_model_dir`).
"""
from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

REPO = Path(__file__).resolve().parents[2]
WEIGHTS = REPO / "weights" / "face_embedder.pt"

# Where YuNet finds the astronaut's face in skimage.data.astronaut() (x, y, w, h).
ASTRONAUT_BOX = (178.0, 62.5, 90.5, 113.8)
FAR_THRESHOLDS = [{"far": 0.01, "threshold": 0.25}, {"far": 0.001, "threshold": 0.3}, {"far": 0.0001, "threshold": 0.4}]


def jpeg(image: np.ndarray, quality: int = 92) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return buffer.tobytes()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels and has no pixel data: a
    decompression bomb's shape without its cost."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def paste(canvas: np.ndarray, image: np.ndarray, x: int, y: int, scale: float = 1.0) -> np.ndarray:
    if scale != 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    canvas[y : y + image.shape[0], x : x + image.shape[1]] = image
    return canvas


@pytest.fixture(scope="session")
def photos() -> dict[str, np.ndarray]:
    """BGR photos. astronaut: one face; cameraman: another person; cat: no human face;
    scaled/shifted/rotated: the astronaut again; group: astronaut (0.75x at 40,150) +
    cameraman + cat on one canvas; big_group: a 2400x1600 scene (downscaled for detection)."""
    astronaut = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    cameraman = cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2BGR)
    cat = np.ascontiguousarray(data.chelsea()[:, :, ::-1])
    background = (90, 120, 140)
    group = np.full((620, 1500, 3), background, dtype=np.uint8)
    paste(group, astronaut, 40, 150, 0.75)
    paste(group, cameraman, 500, 50)
    paste(group, cat, 1030, 160)
    big_group = np.full((1600, 2400, 3), background, dtype=np.uint8)
    paste(big_group, astronaut, 1500, 700, 1.5)
    paste(big_group, cameraman, 100, 300, 2.0)
    rotation = cv2.getRotationMatrix2D((256, 256), 12, 0.9)
    return {
        "astronaut": astronaut,
        "cameraman": cameraman,
        "cat": cat,
        "scaled": cv2.resize(astronaut, None, fx=1.6, fy=1.6, interpolation=cv2.INTER_CUBIC),
        "shifted": paste(np.full((700, 800, 3), background, dtype=np.uint8), astronaut, 230, 120),
        "rotated": cv2.warpAffine(astronaut, rotation, (512, 512), borderMode=cv2.BORDER_REFLECT),
        "group": group,
        "big_group": big_group,
    }


@pytest.fixture(scope="session")
def photo_bytes(photos) -> dict[str, bytes]:
    return {name: jpeg(image) for name, image in photos.items()}


@pytest.fixture(scope="session")
def committed_model_dir() -> Path:
    if not WEIGHTS.is_file():
        pytest.skip(f"{WEIGHTS} is missing")
    return WEIGHTS.parent


@pytest.fixture(scope="session")
def feature_model_dir(tmp_path_factory, photos) -> Path:
    import torch
    from torch import nn

    from model.backbone import FaceBackbone
    from model.embedder import save_checkpoint
    from model.pipeline import FacePipeline
    from model.preprocess import crops_to_tensor

    pipeline = FacePipeline()
    crops = [pipeline.faces(photos[name])[0].crop for name in ("astronaut", "cameraman", "rotated")]
    rng = np.random.default_rng(0)
    noisy = [np.clip(c + rng.integers(-40, 40, c.shape), 0, 255).astype(np.uint8)
             for c in crops for _ in range(5)]
    torch.manual_seed(0)
    backbone = FaceBackbone()
    for module in backbone.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            module.momentum = None  # running stats = the calibration batch's stats
    backbone.train()
    with torch.no_grad():
        backbone(crops_to_tensor(np.stack(crops + noisy)))
    folder = tmp_path_factory.mktemp("feature_model")
    save_checkpoint(folder / "face_embedder.pt", backbone.eval(), threshold=0.3, version="test-features",
                    flip=False, far_thresholds=FAR_THRESHOLDS)
    return folder


class Server:
    """Calls a handler the way TorchServe does: a list of request dicts + a Context whose
    request processors collect each request's status."""

    def __init__(self, handler, context) -> None:
        self.handler, self.context = handler, context

    def __call__(self, *requests: dict):
        from ts.context import RequestProcessor

        self.context.request_processor = [RequestProcessor({}) for _ in requests]
        outputs = self.handler.handle(list(requests), self.context)
        statuses = [self.context.get_response_status(i)[0] for i in range(len(requests))]
        return outputs, statuses

    def one(self, request: dict):
        (output,), (status,) = self(request)
        return output, status


@pytest.fixture(scope="session")
def make_server():
    """make_server(model_dir, name="face-verify", yaml=None) -> Server with an initialised handler."""
    from ts.context import Context

    from handler.face_handler import FaceHandler

    def build(model_dir: Path, name: str = "face-verify", yaml: dict | None = None) -> Server:
        manifest = {"model": {"modelName": name, "serializedFile": "face_embedder.pt",
                              "handler": "face_handler.py", "modelVersion": "1.0"}}
        context = Context(name, str(model_dir), manifest, 1, None, "0.12.0",
                          model_yaml_config=yaml or {})
        handler = FaceHandler()
        handler.initialize(context)
        return Server(handler, context)

    return build


@pytest.fixture(scope="session")
def verify(make_server, feature_model_dir) -> Server:
    return make_server(feature_model_dir)


@pytest.fixture(scope="session")
def embed(make_server, feature_model_dir) -> Server:
    return make_server(feature_model_dir, name="face-embed")


@pytest.fixture(scope="session")
def encode_jpeg():
    return jpeg


@pytest.fixture(scope="session")
def bomb_png() -> bytes:
    return png_header_only(50_000, 50_000)


@pytest.fixture(scope="session")
def astronaut_box() -> tuple[float, float, float, float]:
    return ASTRONAUT_BOX
