"""Where a camera's frames come from, read with PyAV (FFmpeg): an RTSP stream, an HTTP(S)
stream (MJPEG, `multipart/x-mixed-replace`; HLS `.m3u8`; anything FFmpeg reads over HTTP), a
V4L2 device (`/dev/videoN`) or a video file.

A live source is read on its own thread, which keeps only the newest decoded frame: when
identifying is slower than the camera, frames are skipped rather than queued, so an event is
never minutes late. When the stream drops (the camera reboots, the network hiccups) or cannot
be opened, the reader waits and tries again, the wait doubling from `backoff_s` up to
`max_backoff_s`, back to `backoff_s` once frames flow again. A file is read frame by frame at
its own pace and ends at its end.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger("face_verify.watch")

LIVE_SCHEMES = ("rtsp://", "rtsps://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a camera's name is an MQTT topic level and a file name


@dataclass(frozen=True)
class Camera:
    name: str
    source: str

    @property
    def live(self) -> bool:
        """A stream or a device (runs until stopped, reconnects), not a file (ends at its end)."""
        return self.source.lower().startswith(LIVE_SCHEMES) or self.source.startswith("/dev/video")


def parse_camera(spec: str, index: int) -> Camera:
    """`NAME=SOURCE`, or a bare SOURCE named after its file (`clip.mp4` -> `clip`) or, for a
    stream, `cam<index>`."""
    name, sep, source = spec.partition("=")
    if sep and NAME.fullmatch(name) and "://" not in name:
        return Camera(name, source)
    camera = Camera(f"cam{index}", spec)
    if not camera.live:
        stem = re.sub(r"[^A-Za-z0-9_-]", "_", Path(spec).stem)[:64]
        camera = Camera(stem or camera.name, spec)
    return camera


@dataclass
class Frame:
    time: float  # a file: the position in the clip (s); live: when it was decoded (Unix time)
    captured: float  # time.monotonic() when it was decoded (the event latency starts here)
    image: object  # HxWx3 RGB uint8 array


@dataclass
class SourceState:
    """What `--health` reports for one camera's source."""

    connected: bool = False
    frames: int = 0  # frames decoded
    last_frame_time: float | None = None  # Unix time of the last decoded frame
    reconnects: int = 0  # times the stream was lost and opened again
    last_error: str | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def as_dict(self) -> dict:
        with self.lock:
            return {"connected": self.connected, "frames": self.frames, "last_frame_time": self.last_frame_time,
                    "reconnects": self.reconnects, "last_error": self.last_error}


class FrameSource:
    """One camera's frames at (about) `fps` per second: `frames(stop)` yields Frames until the
    file ends or `stop` is set; a live source also yields None every `idle_s` without a new
    frame (the caller can tell a stalled camera).

    open_timeout_s / read_timeout_s: give up opening, or waiting for the next packet, after
        this long (the stream counts as dropped).
    backoff_s / max_backoff_s: the first wait before reopening a dropped stream, and the
        longest (the wait doubles each failed try).
    rtsp_transport: RTSP over `tcp` (no lost packets, smeared frames) or `udp`.
    """

    def __init__(self, camera: Camera, fps: float, *, open_timeout_s: float = 10.0, read_timeout_s: float = 10.0,
                 backoff_s: float = 1.0, max_backoff_s: float = 30.0, rtsp_transport: str = "tcp",
                 idle_s: float = 0.5) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be > 0, not {fps}")
        self.camera, self.fps = camera, fps
        self.open_timeout_s, self.read_timeout_s = open_timeout_s, read_timeout_s
        self.backoff_s, self.max_backoff_s, self.rtsp_transport = backoff_s, max_backoff_s, rtsp_transport
        self.idle_s = idle_s
        self.state = SourceState()

    def frames(self, stop: threading.Event) -> Iterator[Frame | None]:
        if not self.camera.live:
            yield from self._file_frames(stop)
            return
        newest: list[Frame | None] = [None]
        ready = threading.Condition()
        done = threading.Event()  # the caller stopped, or stopped asking for frames
        halt = _Either(stop, done)
        reader = threading.Thread(target=self._read_live, args=(halt, newest, ready),
                                  name=f"read-{self.camera.name}", daemon=True)
        reader.start()
        try:
            while not stop.is_set():
                with ready:
                    ready.wait_for(lambda: newest[0] is not None or stop.is_set(), timeout=self.idle_s)
                    frame, newest[0] = newest[0], None
                yield frame
        finally:
            done.set()
            reader.join(timeout=1.0)

    def _file_frames(self, stop: threading.Event) -> Iterator[Frame]:
        from ..video import clip

        self._set(connected=True)
        try:
            for t, image in clip.sampled_frames(self.camera.source, self.fps):
                if stop.is_set():
                    return
                self._count()
                yield Frame(t, time.monotonic(), image)
        except clip.VideoError as exc:
            self._set(last_error=exc.message)
            logger.error("camera %s: %s", self.camera.name, exc.message)
        finally:
            self._set(connected=False)

    def _read_live(self, stop: _Either, newest: list, ready: threading.Condition) -> None:
        wait = self.backoff_s
        first = True
        while not stop.is_set():
            if not first:
                with self.state.lock:
                    self.state.reconnects += 1
                logger.warning("camera %s: reconnecting in %.1f s", self.camera.name, wait)
                if stop.wait(wait):
                    return
            first = False
            got_frames = self._read_once(stop, newest, ready)
            wait = self.backoff_s if got_frames else min(self.max_backoff_s, wait * 2)

    def _read_once(self, stop: _Either, newest: list, ready: threading.Condition) -> bool:
        """Open the stream and decode it until it drops or `stop`; True if it gave any frame."""
        import av

        got, step, due = False, 1.0 / self.fps, 0.0
        try:
            container = av.open(self.camera.source, **self._open_arguments())
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            self._lost(f"cannot open: {exc}")
            return False
        try:
            stream = container.streams.video[0] if container.streams.video else None
            if stream is None:
                self._lost("no video stream")
                return False
            stream.thread_type = "AUTO"
            self._set(connected=True, last_error=None)
            logger.info("camera %s: connected (%s %dx%d)", self.camera.name, container.format.name,
                        stream.codec_context.width, stream.codec_context.height)
            for decoded in container.decode(stream):
                if stop.is_set():
                    return got
                now = time.monotonic()
                if now < due:  # sampled at fps: the frames between are decoded (they must be) and dropped
                    continue
                due = max(due + step, now - step)
                got = True
                self._count()
                frame = Frame(time.time(), now, decoded.to_ndarray(format="rgb24"))
                with ready:
                    newest[0] = frame
                    ready.notify()
            self._lost("the stream ended")
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            self._lost(f"stream lost: {exc}")
        finally:
            container.close()
            self._set(connected=False)
        return got

    def _open_arguments(self) -> dict:
        source = self.camera.source
        options: dict[str, str] = {}
        arguments: dict = {"timeout": (self.open_timeout_s, self.read_timeout_s)}
        if source.lower().startswith(("rtsp://", "rtsps://")):
            options["rtsp_transport"] = self.rtsp_transport
        if source.startswith("/dev/video"):
            arguments["format"] = "v4l2"
        if options:
            arguments["options"] = options
        return arguments

    def _lost(self, why: str) -> None:
        self._set(connected=False, last_error=why)
        logger.warning("camera %s: %s", self.camera.name, why)

    def _count(self) -> None:
        with self.state.lock:
            self.state.frames += 1
            self.state.last_frame_time = round(time.time(), 3)

    def _set(self, **values) -> None:
        with self.state.lock:
            for key, value in values.items():
                setattr(self.state, key, value)


class _Either:
    """Set when either event is: the caller's stop, or the frames' consumer gone."""

    def __init__(self, first: threading.Event, second: threading.Event) -> None:
        self.first, self.second = first, second

    def is_set(self) -> bool:
        return self.first.is_set() or self.second.is_set()

    def wait(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while not self.is_set() and time.monotonic() < deadline:
            self.first.wait(min(0.1, max(0.0, deadline - time.monotonic())))
        return self.is_set()


def describe(source: str) -> str:
    """The source as logged: a URL without its password."""
    return re.sub(r"(://[^:/@]+):[^@/]*@", r"\1:***@", source) if "@" in source else os.fspath(source)
