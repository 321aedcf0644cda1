"""Faces followed from frame to frame (ByteTrack, from the `trackers` package), each track
with a name voted on from its look-ups, and each track one person.

Boxes alone cannot tell two people apart: after a hard cut a stranger standing where an
enrolled person stood lands in the same box, and ByteTrack carries the track on. So a track
also keeps the embedding of its last look-up (its anchor), and every frame whose face comes
with an embedding is compared with it: below the verification threshold the service sends
with every answer, the face is suspect (its name is hidden, and a look-up is due at once);
suspect on `switch_frames` frames in a row, the face starts a new track, and the old one
ends. A scene cut (frames.py) ends every track.

A track is looked up on each frame until its votes agree, then again every `reid_every`
frames, at once when its box has moved or grown so much that it overlaps its box at the last
look-up by less than `reid_iou`, and at once when it is suspect. Faces the caller marks as
not fit to be named (blurred, see quality.py) are followed but not looked up. When frames
come with boxes only (embedding.py), the embeddings of the faces due for a look-up are
fetched then, and a face whose thumbnail stops resembling the one of its last look-up (below
`appearance_min`) is due at once, so a switch is caught on the frame it happens.

Votes are weighted as Frigate does: a vote counts for its face's area (capped at a face
`full_weight_px` tall, the size the embedding network takes) times its score (an unknown
vote: the threshold a name would have needed), so a small, far, barely-matching face sways
the name less than a large clear one. The label is the name with most weight among the last
`window` look-ups, once at least `agree` of them gave it and it holds more than half the
weight; until then it is pending, so a label neither flickers nor shows a first guess.
"""
from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..models import Box, EmbeddingResult
from .identities import Identifier, Look

REID_EVERY = 3
REID_IOU = 0.5
WINDOW = 5
AGREE = 2
SWITCH_FRAMES = 2
APPEARANCE_MIN = 0.5
LOST_AFTER_S = 1.0
FULL_WEIGHT_PX = 112
NEWBORN_IOU = 0.3  # a new track is the face first seen one frame earlier if their boxes overlap this much


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two [x, y, w, h] boxes."""
    w = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    union = a[2] * a[3] + b[2] * b[3] - w * h
    return w * h / union if union > 0 else 0.0


def cosine(a: list[float], b: list[float]) -> float:
    """The similarity of two L2-normalised embeddings."""
    return sum(x * y for x, y in zip(a, b, strict=False))


@dataclass(frozen=True)
class Label:
    """What a track shows: `agreed` False while the votes do not agree yet, or while the face
    may be someone else than the track's person (`name` None then); agreed with `name` None:
    an unknown face (no match in reference mode)."""

    agreed: bool
    name: str | None
    score: float | None  # the best score of the agreed name's votes


PENDING = Label(False, None, None)


@dataclass(frozen=True)
class Vote:
    name: str | None
    weight: float
    score: float | None


@dataclass
class Track:
    id: int
    window: int = WINDOW
    votes: deque = field(init=False)
    best: dict = field(default_factory=dict)  # name -> best score voted for it
    looked_at: Box | None = None
    since_look: int = 0
    anchor: list[float] | None = None  # the embedding of the last look-up: who this track is
    suspect: int = 0  # frames in a row whose embedding did not match the anchor
    held: list = field(default_factory=list)  # look-ups made while suspect: (Vote, box, embedding)
    last_seen: int = 0  # the frame number it was last seen on
    thumbnail: object = None  # the face's thumbnail at the last look-up (embedding.face_thumbnail)

    def __post_init__(self) -> None:
        self.votes = deque(maxlen=self.window)

    def vote(self, vote: Vote, box: Box, embedding: list[float] | None, thumbnail=None) -> None:
        self.votes.append(vote)
        self.thumbnail = thumbnail
        if vote.score is not None:
            self.best[vote.name] = max(vote.score, self.best.get(vote.name, vote.score))
        self.looked_at, self.since_look = box, 0
        if embedding:
            self.anchor = embedding

    def label(self, agree: int) -> Label:
        if not self.votes or self.suspect:
            return PENDING
        weights: dict[str | None, float] = {}
        counts: dict[str | None, int] = {}
        for vote in self.votes:
            weights[vote.name] = weights.get(vote.name, 0.0) + vote.weight
            counts[vote.name] = counts.get(vote.name, 0) + 1
        name = max(weights, key=lambda n: (weights[n], counts[n]))
        if counts[name] < agree or weights[name] <= 0.5 * sum(weights.values()):
            return PENDING
        return Label(True, name, self.best.get(name))


@dataclass(frozen=True)
class TrackedFace:
    track: int
    box: Box
    label: Label
    looked_up: bool  # this frame's embedding was looked up for the track
    confidence: float | None = None  # the detector's
    embedding: list[float] | None = None  # the look-up's, when it voted for the track (not held while suspect)


class FaceTracker:
    """`update(answer)` once per frame, in order; `fps`: the frames per second fed to it.

    reid_every: an agreed track is looked up again every this many frames.
    reid_iou: ... and at once when its box overlaps the box of its last look-up less than this.
    agree: look-ups (of the last `window`) that must give a name before it is shown.
    window: the look-ups a label is voted on.
    switch_frames: frames in a row a face's embedding must fail to match its track's before
        it starts a new track (one odd frame, a turned head or motion blur, does not split).
    lost_after_s: a track unseen this long ends.
    full_weight_px: a face this tall or taller votes with its full weight; smaller ones with
        their area's share of it.
    appearance_min: with boxes-only frames, a face whose thumbnail correlates less than this
        with its thumbnail at the last look-up is looked up at once.
    tracking: False: every face looked up on every frame, no votes (the baseline).
    """

    def __init__(self, identifier: Identifier, fps: float, reid_every: int = REID_EVERY,
                 reid_iou: float = REID_IOU, agree: int = AGREE, window: int = WINDOW,
                 switch_frames: int = SWITCH_FRAMES, lost_after_s: float = LOST_AFTER_S,
                 full_weight_px: float = FULL_WEIGHT_PX, appearance_min: float = APPEARANCE_MIN,
                 tracking: bool = True) -> None:
        self.identifier, self.reid_every, self.reid_iou, self.agree = identifier, reid_every, reid_iou, agree
        self.appearance_min = appearance_min
        self.window, self.switch_frames, self.full_weight_px = window, switch_frames, full_weight_px
        self.tracking = tracking
        self.fps, self.lost_frames = fps, max(1, round(lost_after_s * fps))
        self.tracks: dict[int, Track] = {}  # the live tracks
        self.ended: list[int] = []  # tracks that ended on the last update (lost, split off, or cut)
        self.lookups = 0  # faces looked up so far
        self.splits = 0  # tracks split because their face stopped matching
        self.cuts = 0  # scene cuts (end_all calls)
        self.frame = 0
        self._last_number = 0
        self._cut_off: list[int] = []  # tracks ended by a cut since the last update
        self._start_byte_track()

    def _start_byte_track(self) -> None:
        from trackers import ByteTrackTracker

        self.byte_track = ByteTrackTracker(lost_track_buffer=self.lost_frames, frame_rate=self.fps,
                                           track_activation_threshold=0.5, minimum_consecutive_frames=1,
                                           high_conf_det_threshold=0.5)
        self._numbers: dict[int, int] = {}  # ByteTrack's track id -> the track's number here
        self._newborn: list[tuple[int, Box]] = []  # last frame's faces not tracked yet: (number, box)

    def end_all(self) -> None:
        """A scene cut: every track ends; the next faces start new ones."""
        self._cut_off.extend(self.tracks)
        self.tracks.clear()
        self.cuts += 1
        self._start_byte_track()

    def update(self, answer: EmbeddingResult, nameable: list[bool] | None = None,
               fetch: Callable[[list[int]], list[list[float] | None]] | None = None,
               thumbnails: list | None = None) -> list[TrackedFace]:
        """The frame's faces, each with its track and label. nameable: per face, False for a
        face not fit to be looked up (followed, not named); default all. A frame of boxes
        only (embeddings []) comes with `fetch(indices)`, which returns the embeddings of
        those faces, and `thumbnails` (per face, embedding.face_thumbnail)."""
        self.ended, self._cut_off = self._cut_off, []
        self.frame += 1
        nameable = nameable if nameable is not None else [True] * len(answer.faces)
        thumbnails = thumbnails if thumbnails is not None else [None] * len(answer.faces)
        ids = self._track_ids(answer)
        threshold = answer.threshold
        for i in range(len(answer.faces)):
            if ids[i] in self.tracks:
                self.tracks[ids[i]].since_look += 1
        if fetch is not None:
            answer = self._fetched(answer, ids, nameable, thumbnails, fetch)
        for i, face in enumerate(answer.faces):
            track = self.tracks.get(ids[i])
            if track is None:
                continue
            if threshold is None or not face.embedding or track.anchor is None or not self.tracking:
                continue
            if cosine(face.embedding, track.anchor) >= threshold:
                track.suspect, track.held = 0, []  # an odd frame: the same person after all
                if thumbnails[i] is not None:  # the look changed, not the person: compare with this look from now on
                    track.thumbnail = thumbnails[i]
                continue
            track.suspect += 1
            if track.suspect >= self.switch_frames:
                ids[i] = self._split(track, face)
        due = [i for i, face in enumerate(answer.faces)
               if nameable[i] and (face.embedding or fetch is None) and self._due(ids[i], face.box)]
        self.lookups += len(due)
        found: list[Look] = []
        if due:
            found = self.identifier.names(answer.model_copy(update={"faces": [answer.faces[i] for i in due]}))
        looks = dict(zip(due, found, strict=False))
        out = []
        for i, face in enumerate(answer.faces):
            track = self.tracks.get(ids[i])
            if track is None:
                track = self.tracks[ids[i]] = Track(ids[i], self.window)
            track.last_seen = self.frame
            if i in looks:
                vote = Vote(looks[i].name, self._weight(face.box, looks[i], threshold), looks[i].score)
                if track.suspect:
                    track.held.append((vote, face.box, face.embedding, thumbnails[i]))
                else:
                    track.vote(vote, face.box, face.embedding, thumbnails[i])
            if self.tracking:
                label = track.label(self.agree)
            else:
                label = Label(True, looks[i].name, looks[i].score) if i in looks else PENDING
            voted = i in looks and not track.suspect and bool(face.embedding)
            out.append(TrackedFace(ids[i], face.box, label, i in looks, face.confidence,
                                   face.embedding if voted else None))
        lost = [n for n, track in self.tracks.items() if self.frame - track.last_seen > self.lost_frames]
        for number in lost:
            del self.tracks[number]
        if lost:  # ByteTrack's ids of ended tracks: a camera watched for days must not collect them
            gone = set(lost)
            self._numbers = {tracker_id: n for tracker_id, n in self._numbers.items() if n not in gone}
        self.ended.extend(lost)
        return out

    def _split(self, track: Track, face) -> int:
        """The face is someone else: it leaves `track` (which ends) for a new one, which gets
        the look-ups made while it was suspect."""
        number = self._new_number()
        for tracker_id, mapped in list(self._numbers.items()):
            if mapped == track.id:
                self._numbers[tracker_id] = number
        new = self.tracks[number] = Track(number, self.window)
        for vote, box, embedding, thumbnail in track.held:
            new.vote(vote, box, embedding, thumbnail)
        if new.anchor is None and face.embedding:
            new.anchor = face.embedding
        del self.tracks[track.id]
        self.ended.append(track.id)
        self.splits += 1
        return number

    def _fetched(self, answer: EmbeddingResult, ids: list[int], nameable: list[bool], thumbnails: list,
                 fetch: Callable[[list[int]], list[list[float] | None]]) -> EmbeddingResult:
        """The answer with the embeddings of the faces due for a look-up (a changed look
        makes a face due) fetched."""
        wanted = []
        for i, face in enumerate(answer.faces):
            if not nameable[i] or face.embedding:
                continue
            track = self.tracks.get(ids[i])
            changed = (track is not None and track.thumbnail is not None and thumbnails[i] is not None
                       and float(track.thumbnail @ thumbnails[i]) < self.appearance_min)
            if changed or self._due(ids[i], face.box):
                wanted.append(i)
        if not wanted:
            return answer
        faces = list(answer.faces)
        for i, embedding in zip(wanted, fetch(wanted), strict=False):
            if embedding:
                faces[i] = faces[i].model_copy(update={"embedding": embedding})
        return answer.model_copy(update={"faces": faces})

    def _weight(self, box: Box, look: Look, threshold: float | None) -> float:
        size = min(1.0, (box[3] / self.full_weight_px) ** 2)
        score = look.score if look.name is not None and look.score is not None else threshold
        return size * max(score if score is not None else 0.5, 1e-3)

    def _due(self, track_id: int, box: Box) -> bool:
        track = self.tracks.get(track_id)
        if not self.tracking or track is None or track.looked_at is None or track.suspect:
            return True
        if not track.label(self.agree).agreed:
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
