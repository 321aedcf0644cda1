"""A video file identified: who appears when (`identify_clip`). What `video identify` prints
for each clip, and what the stream bench measures.

Frames sampled at `fps` go one by one through the service and the tracker (`frames.py`); the
clip is summed up as segments, one per (track, identity) (`timeline.py`) and, on request,
written out again with the faces boxed and named (`drawing.py`, `clip.py`). An unreadable or
corrupt clip is not an exception here: the report carries the error and whatever was identified before it.
"""
from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from ..client import FaceClient
from . import clip as video
from .drawing import draw
from .frames import MIN_FACE_PX, FrameIdentifier, FrameResult
from .identities import GalleryIdentifier, Identifier
from .timeline import Timeline

if TYPE_CHECKING:
    from ..gallery import Gallery
    from ..people.unknown import UnknownFaces

FrameHook = Callable[[float, object, FrameResult], None]  # (time in s, HxWx3 RGB frame, its result)


class ClipFailure(BaseModel):
    code: str | None
    message: str


class TrackSpan(BaseModel):
    """One segment: a track (one person) under one name (None: unknown, or no match against a
    reference photo), from its first to its last sampled frame under that name, the name's
    best score, and the frames it covers."""

    track: int
    identity: str | None
    start_s: float
    end_s: float
    score: float | None
    frames: int


class ClipReport(BaseModel):
    """One clip. `real_time_factor`: seconds of video per second of processing (> 1: faster
    than real time). `info` and `annotated` (the annotated copy's path) are left out of
    `video identify`'s JSON."""

    clip: str
    tracks: list[TrackSpan] = Field(default_factory=list)
    frames: int = 0  # frames sampled and processed
    duration_s: float | None = None
    processing_s: float | None = None
    frames_per_s: float | None = None
    real_time_factor: float | None = None
    embeddings: int = 0  # faces the service embedded
    lookups: int = 0  # faces looked up (gallery search or reference comparison)
    scene_cuts: int = 0  # hard cuts found (each ended every track)
    track_splits: int = 0  # tracks split because their face stopped matching their person
    error: ClipFailure | None = None
    reid_every: int
    info: video.ClipInfo | None = None
    annotated: str | None = None

    def cli_entry(self) -> dict:
        """The clip's entry in `video identify`'s JSON (without `info` and `annotated`)."""
        return self.model_dump(mode="json", exclude={"info", "annotated"})


def identify_clip(path: str | os.PathLike, client: FaceClient, identifier: Identifier | Gallery, *,
                  fps: float, annotated: str | os.PathLike | None = None, min_face: int = MIN_FACE_PX,
                  on_frame: FrameHook | None = None, progress: bool = False, collect: UnknownFaces | None = None,
                  **tracker_options) -> ClipReport:
    """Who appears when in the clip at `path`, sampled at `fps` frames per second.

    identifier: who a face is: a Gallery (names from its search), or an Identifier
        (identities.py: a ReferenceIdentifier answers `match` / no match).
    annotated: also write the sampled frames, faces boxed and named, to this video file.
    min_face: faces less tall than this (pixels) are left out; blurred faces are followed
        but not named (FrameIdentifier's `quality`).
    on_frame: called after each sampled frame with (its time, the frame, its FrameResult).
    progress: show a progress bar on stderr.
    collect: the unknown people's faces go to this people state (client/people/unknown.py),
        written at the clip's end (and every `save_every_s` while tracks end).
    tracker_options: FrameIdentifier's (quality, scene_cuts) and the FaceTracker's
        (reid_every, reid_iou, agree, switch_frames, ...; tracking=False: every face looked up
        on every frame, the baseline).
    """
    if fps <= 0:
        raise ValueError(f"fps must be > 0, not {fps}")
    who: Identifier = identifier if hasattr(identifier, "names") else GalleryIdentifier(identifier)
    collecting = None
    if collect is not None:
        who, collecting = collect.watching(who), collect.source(os.fspath(path))
    frames = FrameIdentifier(client, who, fps, min_face=min_face, **tracker_options)
    report = ClipReport(clip=str(path), reid_every=frames.tracker.reid_every,
                        annotated=None if annotated is None else os.fspath(annotated))
    timeline, writer = Timeline(), None
    started = time.perf_counter()
    try:
        report.info = video.info(path)
        report.duration_s = report.info.duration_s
        total = int(report.duration_s * fps) + 1 if report.duration_s else None
        with _progress(progress, total, Path(path).name) as bar:
            for t, frame in video.sampled_frames(path, fps):
                result = frames.process(frame)
                timeline.add(t, result.faces)
                if collecting is not None:
                    collecting.update(t, result.faces, result.ended)
                if annotated is not None:
                    writer = writer or video.VideoWriter(annotated, fps, report.info.width, report.info.height)
                    writer.write(draw(frame, result.faces, who.unknown))
                if on_frame is not None:
                    on_frame(t, frame, result)
                bar.update(1)
    except video.VideoError as exc:
        report.error = ClipFailure(code=exc.code, message=exc.message)
    finally:
        if writer is not None:
            writer.close()
        if collecting is not None and collect is not None:
            collecting.finish()
            collect.save()
    seconds = time.perf_counter() - started
    report.tracks = [TrackSpan(**track) for track in timeline.tracks()]
    report.frames, report.processing_s = frames.frames, round(seconds, 3)
    report.embeddings, report.lookups = frames.embeddings, frames.tracker.lookups
    report.scene_cuts, report.track_splits = frames.tracker.cuts, frames.tracker.splits
    if frames.frames:
        report.frames_per_s = round(frames.frames / seconds, 2)
        if report.duration_s:
            report.real_time_factor = round(report.duration_s / seconds, 2)
    if writer is None:
        report.annotated = None  # nothing was decoded, so nothing written
    return report


def _progress(shown: bool, total: int | None, name: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=name, unit="frame", file=sys.stderr, leave=False, disable=not shown)
