"""Which faces are fit to be named: big enough and sharp enough. A face that is not is still
followed (its box drawn, pending), but never looked up, so it stays unnamed rather than guessed."""
from __future__ import annotations

from ..models import Box

MIN_FACE_PX = 40
MIN_SHARPNESS = 30.0
SHARPNESS_HEIGHT = 64


class FaceQuality:
    """min_face_px: faces less tall than this are left out altogether (a portrait on the wall,
        a passer-by far away: too small to be named reliably, and most of the detector's
        false finds in a busy scene).
    min_sharpness: faces whose sharpness (the variance of the Laplacian of the face, scaled
        to `sharpness_height` pixels tall so that it does not depend on the face's size) is
        below this are followed but not looked up: motion blur and out-of-focus faces embed
        poorly. 0 turns the check off.
    """

    def __init__(self, min_face_px: float = MIN_FACE_PX, min_sharpness: float = MIN_SHARPNESS,
                 sharpness_height: int = SHARPNESS_HEIGHT) -> None:
        self.min_face_px, self.min_sharpness, self.sharpness_height = min_face_px, min_sharpness, sharpness_height

    def big_enough(self, box: Box) -> bool:
        return box[3] >= self.min_face_px

    def sharpness(self, frame, box: Box) -> float:
        """The variance of the Laplacian of the face's grey crop at `sharpness_height` px tall."""
        import cv2

        height, width = frame.shape[:2]
        x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
        x1, y1 = min(width, int(box[0] + box[2])), min(height, int(box[1] + box[3]))
        if x1 - x0 < 2 or y1 - y0 < 2:
            return 0.0
        grey = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
        scale = self.sharpness_height / grey.shape[0]
        grey = cv2.resize(grey, (max(2, round(grey.shape[1] * scale)), self.sharpness_height),
                          interpolation=cv2.INTER_AREA)
        return float(cv2.Laplacian(grey, cv2.CV_64F).var())

    def sharp_enough(self, frame, box: Box) -> bool:
        return self.min_sharpness <= 0 or self.sharpness(frame, box) >= self.min_sharpness
