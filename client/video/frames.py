"""One frame through the service and the tracker: `FrameIdentifier.process(frame)`."""
from __future__ import annotations

import time
from dataclasses import dataclass

from ..client import FaceClient
from .embedding import EVERY_FACE, NEEDED_FACES, FaceEmbedder, face_thumbnail
from .identities import Identifier
from .quality import MIN_FACE_PX, FaceQuality
from .scene import SceneCuts
from .tracking import FaceTracker, TrackedFace

__all__ = ["EVERY_FACE", "MIN_FACE_PX", "NEEDED_FACES", "FrameIdentifier", "FrameResult"]


@dataclass(frozen=True)
class FrameResult:
    faces: list[TrackedFace]
    service_s: float  # the face-embed calls (encoding, network, detection and the embeddings made)
    total_s: float  # the whole frame: the call, tracking and look-ups
    cut: bool = False  # a scene cut before this frame ended every track
    ended: tuple[int, ...] = ()  # tracks that ended before or with this frame (lost, split off, cut)


class FrameIdentifier:
    """Frames (HxWx3 RGB uint8 arrays) in time order, `fps` of them per second.

    min_face: faces less tall than this (pixels) are left out (quality.py).
    quality: which faces are fit to be named (default FaceQuality(min_face)); blurred ones are
        followed but not looked up.
    scene_cuts: the scene-cut detector (default SceneCuts()); None: no cut detection.
    embed: NEEDED_FACES (default): each frame's boxes, and the embeddings of the faces due for
        a look-up only; EVERY_FACE: every face of every frame embedded (embedding.py).
    detect_here: NEEDED_FACES: frames detected here with the service's detector settings
        (default); False: each frame sent to the service for its boxes (embedding.py).
    tracker_options: the FaceTracker's (reid_every, reid_iou, agree, switch_frames, ...;
        tracking=False: every face looked up on every frame, the baseline).
    """

    def __init__(self, client: FaceClient, identifier: Identifier, fps: float, min_face: float = MIN_FACE_PX,
                 quality: FaceQuality | None = None, scene_cuts: SceneCuts | None | bool = True,
                 embed: str = NEEDED_FACES, detect_here: bool = True, **tracker_options) -> None:
        self.client, self.identifier = client, identifier
        self.quality = quality or FaceQuality(min_face_px=min_face)
        self.scene_cuts = SceneCuts() if scene_cuts is True else scene_cuts or None
        self.tracker = FaceTracker(identifier, fps, **tracker_options)
        # without tracking every face is looked up on every frame: one call embeds them all
        self.embedder = FaceEmbedder(client, embed if self.tracker.tracking else EVERY_FACE, detect_here=detect_here)
        self.frames = 0

    @property
    def embeddings(self) -> int:
        """Faces the service embedded so far."""
        return self.embedder.embedded

    def process(self, frame) -> FrameResult:
        started = time.perf_counter()
        answer = self.embedder.frame(frame)
        service_s = time.perf_counter() - started
        answer = answer.model_copy(update={"faces": [f for f in answer.faces if self.quality.big_enough(f.box)]})
        cut = self.scene_cuts is not None and self.scene_cuts.is_cut(frame)
        if cut:
            self.tracker.end_all()
        nameable = [self.quality.sharp_enough(frame, face.box) for face in answer.faces]
        fetch, thumbnails = None, None
        if answer.faces and not any(face.embedding for face in answer.faces):  # boxes only
            def fetch(indices: list[int]) -> list[list[float] | None]:
                nonlocal service_s
                asked = time.perf_counter()
                found = self.embedder.faces(frame, [answer.faces[i].box for i in indices])
                service_s += time.perf_counter() - asked
                return found

            thumbnails = [face_thumbnail(frame, face.box) for face in answer.faces]
        faces = self.tracker.update(answer, nameable, fetch, thumbnails)
        self.frames += 1
        return FrameResult(faces, service_s, time.perf_counter() - started, cut, tuple(self.tracker.ended))

    @property
    def unknown(self) -> str:
        return self.identifier.unknown
