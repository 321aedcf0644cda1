"""Video files with PyAV: frames sampled at a given rate, and an annotated copy written."""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import FaceClientError


class VideoError(FaceClientError):
    """A clip that cannot be opened or decoded (code `unreadable_video`)."""


@dataclass(frozen=True)
class ClipInfo:
    width: int
    height: int
    duration_s: float | None  # None: the container does not say
    fps: float | None  # the clip's own frame rate


def _open(path: str | os.PathLike):
    import av

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, ValueError) as exc:
        raise VideoError(f"{os.fspath(path)}: cannot read the video ({exc})", code="unreadable_video") from None
    if not container.streams.video:
        container.close()
        raise VideoError(f"{os.fspath(path)}: no video stream in the file", code="unreadable_video")
    return container


def info(path: str | os.PathLike) -> ClipInfo:
    with _open(path) as container:
        stream = container.streams.video[0]
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        rate = float(stream.average_rate) if stream.average_rate else None
        return ClipInfo(stream.codec_context.width, stream.codec_context.height, duration, rate)


def sampled_frames(path: str | os.PathLike, fps: float) -> Iterator[tuple[float, object]]:
    """(time in seconds, HxWx3 RGB array) for the frames nearest to every 1/fps seconds."""
    import av

    step, due = 1.0 / fps, 0.0
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                t = float(frame.time) if frame.time is not None else due
                if t + 1e-6 < due:
                    continue
                yield t, frame.to_ndarray(format="rgb24")
                while due <= t + 1e-6:
                    due += step
        except av.error.FFmpegError as exc:
            raise VideoError(f"{os.fspath(path)}: the video is corrupt after {due:.1f} s ({exc})",
                             code="unreadable_video") from None


class VideoWriter:
    """An H.264 (else MPEG-4) file written frame by frame (PIL images or RGB arrays)."""

    def __init__(self, path: str | os.PathLike, fps: float, width: int, height: int) -> None:
        from fractions import Fraction

        import av

        self.container = av.open(str(path), mode="w")
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        stream = self.container.add_stream(codec, rate=Fraction(fps).limit_denominator(1000))
        assert isinstance(stream, av.VideoStream)  # a video codec makes a video stream
        self.stream = stream
        self.stream.width, self.stream.height = width - width % 2, height - height % 2
        self.stream.pix_fmt = "yuv420p"

    def write(self, image) -> None:
        import av
        import numpy as np

        array = np.asarray(image)[: self.stream.height, : self.stream.width]
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(array), format="rgb24")
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
