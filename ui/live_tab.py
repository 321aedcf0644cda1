"""The Live tab: the browser's camera streamed to the page's server, each frame through the
service (face-embed) and the tracker, each face boxed and named from the gallery, or matched
against a reference photo. Frames are kept in memory only for the time it takes to answer
them: nothing is written to disk, and the annotated frame goes back inline (a data URL)."""
from __future__ import annotations

import base64
import html
import io
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

import gradio as gr

from client import FaceClient, FaceClientError
from client.video.drawing import caption, draw
from client.video.frames import FrameIdentifier
from client.video.identities import GalleryIdentifier, ReferenceIdentifier

GALLERY, REFERENCE = "Gallery: who is it?", "Reference photo: is it this person?"
STREAM_EVERY_S = 0.05  # the browser sends a frame this often, unless the last one is still being answered
TIME_LIMIT_S = 600  # one stream's length; the camera button starts another
NOMINAL_FPS = 10.0  # the tracker's idea of the frame rate (how long a lost face is waited for)
RECENT = 30  # frames the figures on the page are taken over
MAX_SESSIONS = 16  # browsers whose tracker is kept
JPEG_QUALITY = 80
# The detector's input size: a larger frame is scaled to this longest side (the page's script
# already does so in the browser; this covers other callers of the stream's API).
LONGEST_SIDE = 640
# What the browser asks the camera for: the rear one (a phone pointed at people), at about the
# detector's size. `ideal`: a computer's only camera still answers.
CAMERA = {"video": {"facingMode": {"ideal": "environment"}, "width": {"ideal": 640}, "height": {"ideal": 480}}}
NOT_STORED = ("Frames are never stored: each is answered from memory and dropped; the service "
              "and the page keep no copy.")


@dataclass
class LiveSession:
    """One browser's stream: its tracker, its recent timings, and a lock, as Gradio may hand
    over the next frame while the last one is still being answered."""

    key: tuple | None = None  # (mode, reference photo) the tracker was made for
    frames: FrameIdentifier | None = None
    busy: threading.Lock = field(default_factory=threading.Lock)
    dropped: int = 0  # frames that came while another was being answered
    arrivals: deque = field(default_factory=lambda: deque(maxlen=RECENT))
    delays: deque = field(default_factory=lambda: deque(maxlen=RECENT))
    size: tuple[int, int] | None = None  # the last frame's width and height as it arrived

    def figures(self) -> tuple[float | None, float | None, float | None]:
        """Frames answered per second, and the delay's median and p95 in ms, over the recent frames."""
        fps = None
        if len(self.arrivals) > 1 and self.arrivals[-1] > self.arrivals[0]:
            fps = (len(self.arrivals) - 1) / (self.arrivals[-1] - self.arrivals[0])
        ordered = sorted(self.delays)
        if not ordered:
            return fps, None, None
        return fps, 1000 * ordered[len(ordered) // 2], 1000 * ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def detector_sized(frame):
    """`frame` (an RGB array) scaled down to LONGEST_SIDE where it is larger."""
    height, width = frame.shape[:2]
    scale = LONGEST_SIDE / max(height, width)
    if scale >= 1:
        return frame
    import cv2

    return cv2.resize(frame, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)


def inline_jpeg(image) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode()


class LiveTab:
    def __init__(self, client: FaceClient, gallery) -> None:
        self.client, self.gallery = client, gallery
        self.sessions: OrderedDict[str, LiveSession] = OrderedDict()
        self.lock = threading.Lock()

    def session(self, request) -> LiveSession:
        """The browser's stream state (the last MAX_SESSIONS browsers are kept)."""
        key = getattr(request, "session_hash", None) or "local"
        with self.lock:
            live = self.sessions.pop(key, None) or LiveSession()
            self.sessions[key] = live  # most recent last
            while len(self.sessions) > MAX_SESSIONS:
                self.sessions.pop(next(iter(self.sessions)))
        return live

    def tracker(self, live: LiveSession, mode: str, reference: str | None) -> FrameIdentifier:
        """The session's tracker, made anew when the mode or the reference photo changed."""
        if live.frames is not None and live.key == (mode, reference):
            return live.frames
        if mode == REFERENCE:
            if not reference:
                raise gr.Error("Add the reference photo first (or choose the gallery).")
            identifier = ReferenceIdentifier(self.client, reference)
        else:
            if self.gallery is None:
                raise gr.Error("No gallery on this page: use a reference photo.")
            identifier = GalleryIdentifier(self.gallery)
        live.key, live.frames = (mode, reference), FrameIdentifier(self.client, identifier, NOMINAL_FPS)
        return live.frames

    def frame(self, frame, mode: str, reference: str | None, request: gr.Request = None):
        arrived = time.perf_counter()
        if frame is None:
            return gr.skip()
        live = self.session(request)
        if not live.busy.acquire(blocking=False):
            live.dropped += 1  # the last frame is still being answered: this one is dropped
            return gr.skip()
        try:
            live.size = (frame.shape[1], frame.shape[0])
            frame = detector_sized(frame)
            frames = self.tracker(live, mode, reference)
            result = frames.process(frame)
            picture = inline_jpeg(draw(frame, result.faces, frames.unknown))
            live.arrivals.append(arrived)
            live.delays.append(time.perf_counter() - arrived)
            return self.view(picture, result.faces, live)
        except FaceClientError as exc:
            return f"<p class='live-error'><b>Not answered:</b> {html.escape(str(exc))}</p>"
        finally:
            live.busy.release()

    def view(self, picture: str, faces, live: LiveSession) -> str:
        fps, p50, p95 = live.figures()
        numbers = (f"{fps:.1f} frames/s" if fps else "... frames/s") + (
            f", delay {p50:.0f} ms median / {p95:.0f} ms p95" if p50 is not None else "")
        names = "".join(f"<li>{html.escape(caption(face, live.frames.unknown))}</li>" for face in faces)
        dropped = f"; {live.dropped} frames dropped while busy" if live.dropped else ""
        size = f"; frames arrive at {live.size[0]}x{live.size[1]}" if live.size else ""
        return (f"<img src='{picture}' alt='the camera frame, faces boxed and named' style='max-width:100%'>"
                f"<p id='live-figures'>{numbers} (over the last {len(live.delays)} frames; delay: from the "
                f"frame's arrival to its answer leaving the page's server{dropped}{size})</p>"
                f"<ul id='live-names'>{names}</ul>")

    def build(self, page: gr.Blocks) -> None:
        gr.Markdown("Start the camera: every face gets a box and a name from the gallery (or *unknown*), "
                    "or, against a reference photo, *match* / *no match*. A name shows once the "
                    f"tracker's look-ups agree (grey `...` until then). **{NOT_STORED}**", elem_id="live-privacy")
        with gr.Row():
            with gr.Column():
                mode = gr.Radio([GALLERY, REFERENCE], value=GALLERY if self.gallery is not None else REFERENCE,
                                label="Mode", elem_id="live-mode")
                reference = gr.Image(label="Reference photo (reference mode)", type="filepath",
                                     sources=["upload", "clipboard"], height=160, elem_id="live-reference")
                camera = gr.Image(label="Camera", sources=["webcam"], streaming=True, type="numpy",
                                  webcam_options=gr.WebcamOptions(mirror=False, constraints=CAMERA),
                                  elem_id="live-camera")
                switch = gr.Button("Use the front camera", size="lg", elem_id="live-switch")  # rear first
            with gr.Column():
                view = gr.HTML(elem_id="live-view")
        camera.stream(self.frame, inputs=[camera, mode, reference], outputs=view,
                      stream_every=STREAM_EVERY_S, time_limit=TIME_LIMIT_S, concurrency_limit=4,
                      show_progress="hidden", api_name="live_frame")
        # In the browser only (ui/static/live_camera.js): the camera is the browser's.
        switch.click(None, js="() => window.faceUiCamera && window.faceUiCamera.switch()")
