"""Which faces the service embeds: every face of every frame (one call: detection and
embeddings), or only the faces whose tracks need a look-up.

In the second way the frames' faces are found without embeddings: the first frame of a size
is sent for its boxes only (face-embed with `embeddings` false: the detector runs, the
embedding network does not), and the next ones are detected here with the settings that
answer carries (detection.py: the service's YuNet, thresholds and input size), so a frame
costs no request; without the model file here every frame is sent so. The faces the tracker
wants looked up are sent as crops (one request for all of them), which the service detects
and aligns by its own rules, so the client keeps no copy of them. Between look-ups a cheap
appearance check stands in for the embedding: a face whose small grey thumbnail stops
resembling its thumbnail at the last look-up is looked up at once (someone else may stand
there now).
"""
from __future__ import annotations

import logging

from ..client import FaceClient
from ..errors import BadInputError
from ..models import Box, EmbeddingResult
from ..photos import photo_part
from .detection import LocalDetector

logger = logging.getLogger(__name__)

EVERY_FACE, NEEDED_FACES = "every-face", "needed-faces"
RESEND_EVERY = 300  # 30 s of a stream at 10 fps
CROP_MARGIN = 0.5  # of the box's size on each side: the detector sees the whole head and some context
THUMBNAIL_PX = 16


def face_thumbnail(frame, box: Box, size: int = THUMBNAIL_PX):
    """The face's grey thumbnail as a zero-mean, unit-length vector (its dot product with
    another is their correlation: 1 the same picture, about 0 unrelated ones)."""
    import cv2
    import numpy as np

    height, width = frame.shape[:2]
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(width, int(box[0] + box[2])), min(height, int(box[1] + box[3]))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    grey = cv2.cvtColor(cv2.resize(frame[y0:y1, x0:x1], (size, size), interpolation=cv2.INTER_AREA),
                        cv2.COLOR_RGB2GRAY).astype(np.float32).ravel()
    grey -= grey.mean()
    norm = float(np.linalg.norm(grey))
    return grey / norm if norm > 0 else None


class FaceEmbedder:
    """The service calls for one stream of frames.

    mode: EVERY_FACE (one call per frame) or NEEDED_FACES (boxes per frame, embeddings of
        the faces to look up only). A server without boxes-only requests refuses the option:
        then EVERY_FACE from there on.
    crop_margin: NEEDED_FACES crops: the share of the box added on each side.
    detect_here: NEEDED_FACES: detect frames here with the service's settings (False: every
        frame is sent to the service for its boxes).
    resend_every: frames detected here between two sent to the service, so its model,
        thresholds and detector settings stay current (a restarted service may hold new weights).
    """

    def __init__(self, client: FaceClient, mode: str = NEEDED_FACES, crop_margin: float = CROP_MARGIN,
                 detect_here: bool = True, resend_every: int = RESEND_EVERY) -> None:
        if mode not in (EVERY_FACE, NEEDED_FACES):
            raise ValueError(f"mode must be {EVERY_FACE!r} or {NEEDED_FACES!r}, not {mode!r}")
        self.client, self.mode, self.crop_margin, self.detect_here = client, mode, crop_margin, detect_here
        self.embedded = 0  # faces the service embedded
        self.sent_frames = 0  # frames sent to the service (the rest were detected here)
        self.detector: LocalDetector | None = None
        self._answer: EmbeddingResult | None = None  # the service's last boxes-only answer: model, thresholds
        self.resend_every, self._detected = resend_every, 0  # frames detected here since the last one sent

    def frame(self, frame) -> EmbeddingResult:
        """The frame's faces: with embeddings (EVERY_FACE), or boxes only (embedding [])."""
        if self.mode == NEEDED_FACES:
            height, width = frame.shape[:2]
            if (self.detector is not None and self.detector.size == (width, height) and self._answer is not None
                    and self._detected < self.resend_every):
                self._detected += 1
                return self._answer.model_copy(update={"faces": self.detector.detect(frame)})
            try:
                answer = self._boxes(frame)
            except BadInputError as exc:
                if exc.code != "unknown_field":
                    raise
                logger.warning("the service cannot answer boxes only (%s): every face is embedded", exc)
                self.mode = EVERY_FACE
            else:
                if self.detect_here:
                    self._detect_next(answer, (width, height))
                return answer
        self.sent_frames += 1
        answer = self.client.embed(frame)
        self.embedded += len(answer.faces)
        return answer

    def _detect_next(self, answer: EmbeddingResult, size: tuple[int, int]) -> None:
        self._answer, self._detected = answer, 0
        if self.detector is not None and self.detector.size == size and self.detector.settings == answer.detector:
            return
        try:
            self.detector = LocalDetector.for_frames(answer.detector, size)
        except ImportError as exc:  # no OpenCV here
            self.detector, self.detect_here = None, False
            logger.warning("frames are sent to the service for their boxes (%s)", exc)
            return
        if self.detector is None:
            self.detect_here = False
            logger.warning("no copy of the service's detector here (%s): every frame is sent for its boxes",
                           answer.detector.model if answer.detector else "an older server sends no settings")

    def _boxes(self, frame) -> EmbeddingResult:
        self.sent_frames += 1
        part = photo_part("image", frame, self.client.encoding)
        # FaceClient.embed has no boxes-only option; the form is face-embed's as the handler documents it
        return self.client._post_multipart(self.client.embed_model, [("image", part), ("embeddings", "false")],
                                           EmbeddingResult)

    def faces(self, frame, boxes: list[Box]) -> list[list[float] | None]:
        """The embedding of the face in each box (None: the service found no face in its crop)."""
        if not boxes:
            return []
        height, width = frame.shape[:2]
        crops, centres = [], []
        for x, y, w, h in boxes:
            x0, y0 = max(0, int(x - self.crop_margin * w)), max(0, int(y - self.crop_margin * h))
            x1, y1 = min(width, int(x + w + self.crop_margin * w)), min(height, int(y + h + self.crop_margin * h))
            crops.append(frame[y0:y1, x0:x1].copy())
            centres.append((x + w / 2 - x0, y + h / 2 - y0))
        batch = self.client.embed_many(crops)
        out: list[list[float] | None] = []
        for photo, (cx, cy) in zip(batch.photos, centres, strict=False):
            found = [f for f in photo.faces if f.embedding] if photo.ok else []
            # the tracked face: the one nearest the crop's centre (a neighbour may show at the edge)
            best = min(found, key=lambda f: (f.box[0] + f.box[2] / 2 - cx) ** 2 + (f.box[1] + f.box[3] / 2 - cy) ** 2,
                       default=None)
            out.append(None if best is None else best.embedding)
        self.embedded += sum(e is not None for e in out)
        return out
