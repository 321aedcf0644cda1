"""One frame through the service and the tracker: `FrameIdentifier.process(frame)`."""
from __future__ import annotations

import time
from dataclasses import dataclass

from ..client import FaceClient
from .identities import Identifier
from .tracking import FaceTracker, TrackedFace


@dataclass(frozen=True)
class FrameResult:
    faces: list[TrackedFace]
    service_s: float  # the face-embed call (encoding, network, detection and embeddings)
    total_s: float  # the whole frame: the call, tracking and look-ups


MIN_FACE_PX = 40  # smaller faces (a portrait on the wall, a passer-by far away) are left out


class FrameIdentifier:
    """Frames (HxWx3 RGB uint8 arrays) in time order, `fps` of them per second. Faces less
    than `min_face` pixels tall are not tracked: too small to be named reliably."""

    def __init__(self, client: FaceClient, identifier: Identifier, fps: float, min_face: int = MIN_FACE_PX,
                 **tracker_options) -> None:
        self.client, self.identifier, self.min_face = client, identifier, min_face
        self.tracker = FaceTracker(identifier, fps, **tracker_options)
        self.frames = 0
        self.embeddings = 0  # faces the service embedded

    def process(self, frame) -> FrameResult:
        started = time.perf_counter()
        answer = self.client.embed(frame)
        called = time.perf_counter()
        answer = answer.model_copy(update={"faces": [f for f in answer.faces if f.box[3] >= self.min_face]})
        faces = self.tracker.update(answer)
        self.frames += 1
        self.embeddings += len(answer.faces)
        return FrameResult(faces, called - started, time.perf_counter() - started)

    @property
    def unknown(self) -> str:
        return self.identifier.unknown
