"""Several cameras in one process: each camera's frames (sources.py) through the service and
the tracker (client/video/frames.py: the same rules as `video identify` and the Live tab),
its events (events.py) to every sink (sinks.py), its state to the health file (health.py).

One thread per camera (and one reader thread per live stream): the service calls of
different cameras overlap, and a camera that drops or stalls holds up no other. Each camera
has its own FaceClient (an HTTP session is not shared between threads); the gallery is
shared, its look-ups one at a time.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..client import FaceClient
from ..errors import FaceClientError
from ..models import EmbeddingResult
from ..video.identities import Identifier, Look
from .events import UNKNOWN_FACE, Event, Presence
from .health import write_health
from .sinks import Sink, present_state
from .snapshots import SnapshotFolder
from .sources import Camera, FrameSource, describe

if TYPE_CHECKING:
    from ..people.unknown import UnknownFaces

logger = logging.getLogger("face_verify.watch")

DEFAULT_FPS = 5.0
RECHECK_S = 1.0  # seconds between look-ups of a face whose name is agreed (frame_options' reid_every overrides)
RECENT_EVENTS = 200  # events the latency figures are taken over


class SharedIdentifier:
    """One identifier for every camera's thread: look-ups one at a time."""

    def __init__(self, identifier: Identifier) -> None:
        self.identifier, self.unknown = identifier, identifier.unknown
        self.lock = threading.Lock()

    def names(self, answer: EmbeddingResult) -> list[Look]:
        with self.lock:
            return self.identifier.names(answer)


class CameraWatch:
    """One camera, from its frames to its events. `run(stop)` until the file ends or `stop`."""

    def __init__(self, camera: Camera, client: FaceClient, identifier: Identifier, sinks: list[Sink], fps: float,
                 *, snapshots: SnapshotFolder | None = None, source_options: dict | None = None,
                 frame_options: dict | None = None) -> None:
        from ..video.frames import FrameIdentifier

        self.camera, self.client, self.sinks, self.snapshots = camera, client, sinks, snapshots
        self.source = FrameSource(camera, fps, **(source_options or {}))
        # a camera's faces stay for long: an agreed face is re-checked every RECHECK_S, not every
        # few frames (a changed look is re-checked at once, whatever this says: tracking.py)
        frame_options = {"reid_every": max(1, round(RECHECK_S * fps)), **(frame_options or {})}
        self.frames = FrameIdentifier(client, identifier, fps, **frame_options)
        self.presence = Presence(camera.name)
        self.lost_after_s = self.frames.tracker.lost_frames / fps
        self.processed = 0
        self.events = 0
        self.service_errors = 0
        self.latencies: deque[float] = deque(maxlen=RECENT_EVENTS)  # frame decoded -> its events sent, s
        self._present: tuple | None = None
        self._last_frame: float | None = None  # time.monotonic() of the last processed frame
        self._last_t = 0.0

    def run(self, stop: threading.Event) -> None:
        try:
            for frame in self.source.frames(stop):
                if frame is None:  # no frame for a while: whoever was here is not seen any more
                    self._check_stale()
                    continue
                if self._last_frame is not None and frame.captured - self._last_frame > self.lost_after_s:
                    self._leave_all()  # back after a gap (a reconnect): earlier tracks do not go on
                try:
                    result = self.frames.process(frame.image)
                except FaceClientError as exc:
                    self.service_errors += 1
                    if self.service_errors in (1, 10) or self.service_errors % 100 == 0:
                        logger.warning("camera %s: the service did not answer a frame (%d so far): %s",
                                       self.camera.name, self.service_errors, exc)
                    continue
                self.processed += 1
                self._last_frame, self._last_t = frame.captured, frame.time
                events = self.presence.update(frame.time, result.faces, result.ended)
                self._publish(events, frame.image, frame.captured)
        finally:
            self._publish(self.presence.finish(), None, None)

    def _check_stale(self) -> None:
        if self._last_frame is not None and time.monotonic() - self._last_frame > self.lost_after_s:
            self._leave_all()

    def _leave_all(self) -> None:
        self._publish(self.presence.finish(), None, None)
        self.frames.tracker.end_all()
        self._last_frame = None

    def _publish(self, events: list[Event], image, captured: float | None) -> None:
        for event in events:
            payload = event.as_dict()
            if event.event == UNKNOWN_FACE and self.snapshots is not None and image is not None:
                try:
                    payload["snapshot"] = str(self.snapshots.save(self.camera.name, event.track, event.time,
                                                                  image, event.box))
                except OSError as exc:
                    logger.warning("camera %s: snapshot not written: %s", self.camera.name, exc)
            for sink in self.sinks:
                sink.send(payload)
            self.events += 1
            if captured is not None:
                self.latencies.append(time.monotonic() - captured)
        state = (tuple(self.presence.present()), self.presence.unknown_here())
        if state != self._present:
            self._present = state
            message = present_state(self.camera.name, list(state[0]), state[1],
                                    events[-1].time if events else self._last_t)
            for sink in self.sinks:
                sink.present(self.camera.name, message)

    def health(self) -> dict:
        ordered = sorted(self.latencies)

        def share(p: float) -> float | None:
            return round(1000 * ordered[min(len(ordered) - 1, int(p * len(ordered)))], 1) if ordered else None

        return {"source": describe(self.camera.source), **self.source.state.as_dict(), "processed": self.processed,
                "events": self.events, "present": self.presence.present(), "service_errors": self.service_errors,
                "event_latency_ms": {"p50": share(0.5), "p95": share(0.95)}}


class Watcher:
    """Every camera on its own thread until the files end or `stop` is set.

    client_factory: makes each camera's FaceClient.
    identifier: who a face is (shared by the cameras, see SharedIdentifier).
    sinks: where every camera's events go.
    fps: frames identified per second per camera.
    health: the file the cameras' state is written to every `health_every_s` and at the end.
    snapshots: where unknown faces' crops go (None: nowhere).
    source_options: FrameSource's (backoff_s, max_backoff_s, timeouts, rtsp_transport).
    frame_options: FrameIdentifier's (min_face, quality, scene_cuts, detect_here, embed, tracker
        knobs; reid_every defaults to RECHECK_S seconds of frames).
    collect: the unknown people's faces go to this people state (client/people/unknown.py's
        UnknownFaces; its `close()` writes what is left).
    opencv_threads: OpenCV's threads per call (detection, resizing) while the cameras run, set
        for the process: 1 (default) lets the cameras' threads share the cores without each
        call contending for all of them; None leaves OpenCV's setting as it is.
    """

    def __init__(self, cameras: list[Camera], client_factory: Callable[[], FaceClient], identifier: Identifier,
                 sinks: list[Sink], *, fps: float = DEFAULT_FPS, health: str | None = None,
                 health_every_s: float = 2.0, snapshots: SnapshotFolder | None = None,
                 source_options: dict | None = None, frame_options: dict | None = None,
                 collect: UnknownFaces | None = None, opencv_threads: int | None = 1) -> None:
        names = [camera.name for camera in cameras]
        if len(set(names)) != len(names):
            raise ValueError(f"camera names must differ: {names}")
        shared = SharedIdentifier(identifier if collect is None else collect.watching(identifier))
        self.watches = [CameraWatch(camera, client_factory(), shared, sinks, fps, snapshots=snapshots,
                                    source_options=source_options, frame_options=frame_options)
                        for camera in cameras]
        if collect is not None:
            for watch in self.watches:
                collect.attach(watch)
        self.health_path, self.health_every_s = health, health_every_s
        self.opencv_threads = opencv_threads

    def run(self, stop: threading.Event) -> dict[str, dict]:
        """Runs every camera; returns their final health."""
        if self.opencv_threads is not None:
            import cv2

            cv2.setNumThreads(self.opencv_threads)
        threads = [threading.Thread(target=self._run_one, args=(watch, stop), name=f"camera-{watch.camera.name}",
                                    daemon=True) for watch in self.watches]
        for thread in threads:
            thread.start()
        while any(thread.is_alive() for thread in threads):
            self._write_health()
            for thread in threads:
                thread.join(timeout=self.health_every_s / len(threads))
        final = self.health()
        self._write_health()
        return final

    def _run_one(self, watch: CameraWatch, stop: threading.Event) -> None:
        logger.info("camera %s: watching %s", watch.camera.name, describe(watch.camera.source))
        try:
            watch.run(stop)
        except Exception:  # a bug in one camera's thread: logged, the other cameras go on
            logger.exception("camera %s: stopped by an error", watch.camera.name)
        finally:
            watch.client.close()
            logger.info("camera %s: stopped", watch.camera.name)

    def health(self) -> dict[str, dict]:
        return {watch.camera.name: watch.health() for watch in self.watches}

    def _write_health(self) -> None:
        if self.health_path:
            try:
                write_health(self.health_path, self.health())
            except OSError as exc:
                logger.warning("health file %s not written: %s", self.health_path, exc)
