"""5-point similarity alignment to the standard 112x112 ArcFace template."""
from __future__ import annotations

import cv2
import numpy as np

FACE_SIZE = 112

# insightface's template for 112x112 crops: eye, eye, nose tip, mouth corner, mouth corner.
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


def similarity_transform(landmarks: np.ndarray, size: int = FACE_SIZE) -> np.ndarray:
    """2x3 matrix (rotation, uniform scale, translation) taking landmarks to the template."""
    template = ARCFACE_TEMPLATE * (size / FACE_SIZE)
    matrix, _ = cv2.estimateAffinePartial2D(
        np.asarray(landmarks, dtype=np.float32), template, method=cv2.LMEDS
    )
    if matrix is None:  # degenerate landmarks (all on one point): fall back to least squares
        matrix, _ = cv2.estimateAffinePartial2D(
            np.asarray(landmarks, dtype=np.float32), template, method=0
        )
    return matrix


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = FACE_SIZE) -> np.ndarray:
    """The face warped to a size x size crop with its landmarks on the template."""
    matrix = similarity_transform(landmarks, size)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def center_crop(image: np.ndarray, size: int = FACE_SIZE, fraction: float = 0.5) -> np.ndarray:
    """Fallback when no face is found: the central square covering `fraction` of the
    shorter side, resized. On LFW/CelebA framing (face ~120 px of 250) this roughly
    matches an aligned crop."""
    height, width = image.shape[:2]
    side = max(1, int(min(height, width) * fraction))
    top, left = (height - side) // 2, (width - side) // 2
    crop = image[top : top + side, left : left + side]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
