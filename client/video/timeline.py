"""A clip summed up as tracks: who, from when to when, best score, frames seen."""
from __future__ import annotations

from dataclasses import dataclass, field

from .tracking import FaceTracker, TrackedFace


@dataclass
class Span:
    start_s: float
    end_s: float
    frames: int = 0


@dataclass
class Timeline:
    spans: dict[int, Span] = field(default_factory=dict)

    def add(self, t: float, faces: list[TrackedFace]) -> None:
        for face in faces:
            span = self.spans.setdefault(face.track, Span(t, t))
            span.end_s, span.frames = t, span.frames + 1

    def tracks(self, tracker: FaceTracker) -> list[dict]:
        """Tracks by start time; `identity`: the name most of the track's look-ups gave
        (None: unknown or, against a reference photo, no match)."""
        out = []
        for track_id, span in sorted(self.spans.items(), key=lambda item: (item[1].start_s, item[0])):
            track = tracker.tracks.get(track_id)
            identity, score = track.identity() if track is not None else (None, None)
            out.append({"track": track_id, "identity": identity, "start_s": round(span.start_s, 3),
                        "end_s": round(span.end_s, 3), "score": None if score is None else round(score, 4),
                        "frames": span.frames})
        return out
