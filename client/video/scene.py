"""Scene cuts: a hard cut between two sampled frames (another camera, an edit in a clip)
ends every track, so no name is carried over into the next scene."""
from __future__ import annotations

THUMBNAIL = (64, 36)
BINS = 32
MIN_DISTANCE = 0.3


class SceneCuts:
    """`is_cut(frame)` per sampled frame, in order: True when its grey thumbnail's histogram
    is further than `min_distance` (Bhattacharyya distance, 0 same to 1 disjoint) from the
    previous frame's. People walking through a scene move it by a few hundredths; a cut to
    another scene by half or more.

    thumbnail: (width, height) frames are shrunk to first (cheap, and blind to noise).
    bins: grey levels of the histogram.
    """

    def __init__(self, min_distance: float = MIN_DISTANCE, thumbnail: tuple[int, int] = THUMBNAIL,
                 bins: int = BINS) -> None:
        self.min_distance, self.thumbnail, self.bins = min_distance, thumbnail, bins
        self._last = None
        self.last_distance = 0.0

    def histogram(self, frame):
        import cv2

        grey = cv2.cvtColor(cv2.resize(frame, self.thumbnail, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
        histogram = cv2.calcHist([grey], [0], None, [self.bins], [0, 256])
        return cv2.normalize(histogram, histogram, 1.0, 0.0, cv2.NORM_L1)

    def is_cut(self, frame) -> bool:
        import cv2

        histogram, last = self.histogram(frame), self._last
        self._last = histogram
        if last is None:
            return False
        self.last_distance = float(cv2.compareHist(last, histogram, cv2.HISTCMP_BHATTACHARYYA))
        return self.last_distance > self.min_distance
