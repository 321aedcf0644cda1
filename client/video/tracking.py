"""Faces followed from frame to frame (ByteTrack, from the `trackers` package), each track
with a name voted on from its look-ups.

A track is looked up on each frame until its votes agree, then again every `reid_every`
frames, or at once when its box has moved or grown so much that it overlaps its box at the
last look-up by less than `reid_iou`. Its label is the name most of its last `WINDOW`
look-ups gave, once at least `agree` of them gave it; until then it is pending, so a label
neither flickers nor shows a first guess.

The service embeds every face of every frame it is sent (detection and embedding are one
call), so tracking saves gallery look-ups and steadies the names, not embeddings.
"""
from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from ..models import Box, EmbeddingResult
from .identities import Identifier, Look

REID_EVERY = 3
REID_IOU = 0.5
WINDOW = 5
AGREE = 2
LOST_AFTER_S = 1.0  # a track unseen this long ends
NEWBORN_IOU = 0.3  # a new track is the face first seen one frame earlier if their boxes overlap this much


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two [x, y, w, h] boxes."""
    w = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    union = a[2] * a[3] + b[2] * b[3] - w * h
    return w * h / union if union > 0 else 0.0


@dataclass(frozen=True)
class Label:
    """What a track shows: `agreed` False while the votes do not agree yet (`name` None
    then); agreed with `name` None: an unknown face (no match in reference mode)."""

    agreed: bool
    name: str | None
    score: float | None  # the best score of the agreed name's votes


@dataclass
class Track:
    id: int
    votes: deque = field(default_factory=lambda: deque(maxlen=WINDOW))
    history: Counter = field(default_factory=Counter)  # every vote of the track's life
    best: dict = field(default_factory=dict)  # name -> best score voted for it
    looked_at: Box | None = None
    since_look: int = 0

    def vote(self, look: Look, box: Box) -> None:
        self.votes.append(look.name)
        self.history[look.name] += 1
        if look.score is not None:
            self.best[look.name] = max(look.score, self.best.get(look.name, look.score))
        self.looked_at, self.since_look = box, 0

    def label(self, agree: int) -> Label:
        if not self.votes:
            return Label(False, None, None)
        name, count = Counter(self.votes).most_common(1)[0]
        if count < agree:
            return Label(False, None, None)
        return Label(True, name, self.best.get(name))

    def identity(self) -> tuple[str | None, float | None]:
        """The name most of the track's look-ups gave, and its best score."""
        if not self.history:
            return None, None
        name = self.history.most_common(1)[0][0]
        return name, self.best.get(name)


@dataclass(frozen=True)
class TrackedFace:
    track: int
    box: Box
    label: Label
    looked_up: bool  # this frame's embedding was looked up for the track


class FaceTracker:
    """`update(answer)` once per frame, in order; `fps`: the frames per second fed to it."""

    def __init__(self, identifier: Identifier, fps: float, reid_every: int = REID_EVERY,
                 reid_iou: float = REID_IOU, agree: int = AGREE, tracking: bool = True) -> None:
        from trackers import ByteTrackTracker

        self.identifier, self.reid_every, self.reid_iou, self.agree = identifier, reid_every, reid_iou, agree
        self.tracking = tracking  # False: every face looked up on every frame, no votes (the baseline)
        self.byte_track = ByteTrackTracker(lost_track_buffer=max(1, round(LOST_AFTER_S * fps)), frame_rate=fps,
                                           track_activation_threshold=0.5, minimum_consecutive_frames=1,
                                           high_conf_det_threshold=0.5)
        self.tracks: dict[int, Track] = {}
        self.lookups = 0  # faces looked up so far
        self._numbers: dict[int, int] = {}  # ByteTrack's track id -> the track's number here
        self._newborn: list[tuple[int, Box]] = []  # last frame's faces not tracked yet: (number, box)
        self._last_number = 0

    def update(self, answer: EmbeddingResult) -> list[TrackedFace]:
        ids = self._track_ids(answer)
        for track_id in ids:
            if track_id in self.tracks:
                self.tracks[track_id].since_look += 1
        due = [i for i, face in enumerate(answer.faces) if self._due(ids[i], face.box)]
        self.lookups += len(due)
        found: list[Look] = []
        if due:
            found = self.identifier.names(answer.model_copy(update={"faces": [answer.faces[i] for i in due]}))
        looks = dict(zip(due, found, strict=False))
        out = []
        for i, face in enumerate(answer.faces):
            track = self.tracks.setdefault(ids[i], Track(ids[i]))
            if i in due:
                track.vote(looks[i], face.box)
            label = track.label(self.agree) if self.tracking else Label(True, looks[i].name, looks[i].score)
            out.append(TrackedFace(ids[i], face.box, label, i in due))
        return out

    def _due(self, track_id: int, box: Box) -> bool:
        track = self.tracks.get(track_id)
        if not self.tracking or track is None or track.looked_at is None or not track.label(self.agree).agreed:
            return True
        return track.since_look >= self.reid_every or iou(box, track.looked_at) < self.reid_iou

    def _track_ids(self, answer: EmbeddingResult) -> list[int]:
        """A track number (1, 2, ... in order of appearance) per face. ByteTrack names a new
        face's track from its second frame on; its first frame is given the number that
        track then gets, when the boxes overlap."""
        import numpy as np
        import supervision as sv

        n = len(answer.faces)
        boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (f.box for f in answer.faces)],
                         dtype=float).reshape(n, 4)
        detections = sv.Detections(xyxy=boxes, confidence=np.array([f.confidence for f in answer.faces]),
                                   data={"face": np.arange(n)})
        tracked = self.byte_track.update(detections)
        ids, newborn = [0] * n, []
        faces = tracked.data.get("face", []) if len(tracked) else []  # an empty answer carries no data
        tracker_ids = [] if tracked.tracker_id is None else tracked.tracker_id.tolist()
        for face, tracker_id in zip((int(i) for i in faces), tracker_ids, strict=False):
            box = answer.faces[face].box
            if tracker_id < 0:
                ids[face] = self._new_number()
                newborn.append((ids[face], box))
            elif tracker_id in self._numbers:
                ids[face] = self._numbers[tracker_id]
            else:
                first = max(self._newborn, key=lambda item: iou(item[1], box), default=None)
                if first is not None and iou(first[1], box) >= NEWBORN_IOU:
                    self._newborn.remove(first)
                    self._numbers[tracker_id] = first[0]
                else:
                    self._numbers[tracker_id] = self._new_number()
                ids[face] = self._numbers[tracker_id]
        self._newborn = newborn
        return ids

    def _new_number(self) -> int:
        self._last_number += 1
        return self._last_number
