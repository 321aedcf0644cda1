"""A clip summed up as segments: one per (track, identity), from when to when, best score,
frames seen. A track is one person (tracking.py splits it when its face stops matching), so
a segment never puts one name over two people."""
from __future__ import annotations

from dataclasses import dataclass, field

from .tracking import TrackedFace


@dataclass
class Span:
    start_s: float
    end_s: float
    frames: int = 0
    score: float | None = None


@dataclass
class Timeline:
    """`add(t, faces)` per sampled frame, in order; `tracks()` the segments.

    A face's frames while its track's votes do not agree yet (pending) count for the name the
    track then agrees on; pending frames that no agreement follows (a face that left, was too
    blurred to name, or turned out to be someone else) are in no segment.
    """

    spans: dict[tuple[int, str | None], Span] = field(default_factory=dict)
    pending: dict[int, list[float]] = field(default_factory=dict)  # track -> times of its pending frames

    def add(self, t: float, faces: list[TrackedFace]) -> None:
        for face in faces:
            if not face.label.agreed:
                self.pending.setdefault(face.track, []).append(t)
                continue
            waiting = self.pending.pop(face.track, [])
            span = self.spans.setdefault((face.track, face.label.name), Span(waiting[0] if waiting else t, t))
            span.end_s, span.frames = t, span.frames + 1 + len(waiting)
            if face.label.score is not None:
                span.score = max(face.label.score, span.score if span.score is not None else face.label.score)

    def tracks(self) -> list[dict]:
        """Segments by start time: track, identity (None: unknown or, against a reference
        photo, no match), start_s, end_s, its name's best score, frames."""
        ordered = sorted(self.spans.items(), key=lambda item: (item[1].start_s, item[0][0]))
        return [{"track": track, "identity": identity, "start_s": round(span.start_s, 3),
                 "end_s": round(span.end_s, 3), "score": None if span.score is None else round(span.score, 4),
                 "frames": span.frames} for (track, identity), span in ordered]
