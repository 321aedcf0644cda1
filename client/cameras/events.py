"""A camera's tracked faces turned into events: someone `appeared` (their track's votes
agreed on a name), an `unknown_face` (they agreed on nobody enrolled), someone `left` (their
track ended: unseen for the tracker's `lost_after_s`, split off because the face became
someone else's, or cut off by a scene cut; or the file ended), and who is here now.

    {"camera": "door", "event": "appeared", "identity": "Ada", "score": 0.71, "track": 3,
     "time": 1765000000.123, "box": [120.0, 80.0, 96.0, 118.0]}

`time`: Unix time of the frame (a file: its position in the clip, in seconds); a `left`
event carries the last frame the face was on. `score`: the name's best look-up score
(unknown: the best candidate's). A track whose name changes (its votes turn to someone
else) leaves under the old name and appears under the new one.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

from ..video.tracking import TrackedFace

APPEARED, LEFT, UNKNOWN_FACE = "appeared", "left", "unknown_face"


@dataclass(frozen=True)
class Event:
    camera: str
    event: str  # appeared | left | unknown_face
    identity: str | None
    score: float | None
    track: int
    time: float
    box: list[float]

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Shown:
    identity: str | None
    score: float | None
    time: float  # the last frame it was seen on
    box: list[float]


class Presence:
    """One camera's events: `update(time, faces, ended)` per processed frame; `finish(time)`
    when the stream ends for good; `present()`: the names here now (each once)."""

    def __init__(self, camera: str) -> None:
        self.camera = camera
        self.shown: dict[int, _Shown] = {}  # announced tracks

    def update(self, t: float, faces: list[TrackedFace], ended: tuple[int, ...] | list[int] = ()) -> list[Event]:
        events = [self._left(track) for track in ended if track in self.shown]
        for face in faces:
            box = [round(float(v), 1) for v in face.box]
            shown = self.shown.get(face.track)
            if shown is not None and face.label.agreed:  # not a suspect frame: maybe someone else already
                shown.time, shown.box = t, box
            if not face.label.agreed or (shown is not None and shown.identity == face.label.name):
                continue
            if shown is not None:
                events.append(self._left(face.track))
            score = None if face.label.score is None else round(face.label.score, 4)
            self.shown[face.track] = _Shown(face.label.name, score, t, box)
            kind = APPEARED if face.label.name is not None else UNKNOWN_FACE
            events.append(Event(self.camera, kind, face.label.name, score, face.track, round(t, 3), box))
        return events

    def finish(self, t: float | None = None) -> list[Event]:
        """Everyone leaves (the stream ended): at their last frame, or at `t`."""
        events = []
        for track in list(self.shown):
            if t is not None:
                self.shown[track].time = max(self.shown[track].time, t)
            events.append(self._left(track))
        return events

    def present(self) -> list[str]:
        return sorted({s.identity for s in self.shown.values() if s.identity is not None})

    def unknown_here(self) -> int:
        return sum(s.identity is None for s in self.shown.values())

    def _left(self, track: int) -> Event:
        shown = self.shown.pop(track)
        return Event(self.camera, LEFT, shown.identity, shown.score, track, round(shown.time, 3), shown.box)
