"""Parts the watch tests share: clips of coloured squares for faces, a stand-in for the face
service that finds them (so the sources, the tracker, the events and the sinks run for real
without TorchServe), and real servers on 127.0.0.1: mosquitto, an RTSP stream from
GStreamer's gst-rtsp-server (rtsp_server.py), a webhook receiver (the MJPEG camera over HTTP is
bench/clips.py's, which the stream bench uses too)."""
from __future__ import annotations

import io
import json
import shutil
import socket
import subprocess
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from client.models import EmbeddedFace, EmbeddingResult
from client.video.identities import Look

SIZE = (320, 240)  # width, height
FPS = 25
SIDE = 60  # a square face's side, px
COLOURS = {"ada": (230, 30, 30), None: (30, 30, 230)}  # ada is enrolled; blue is a stranger
THRESHOLD = 0.3


@dataclass(frozen=True)
class Square:
    who: str | None
    start_s: float
    end_s: float
    x: int
    y: int

    def at(self, t: float) -> tuple[int, int] | None:
        return (self.x + round(10 * (t - self.start_s)), self.y) if self.start_s <= t < self.end_s else None


def background() -> np.ndarray:
    """Grey texture: nothing in it is red or blue."""
    rng = np.random.default_rng(0)
    grey = rng.integers(90, 170, size=(SIZE[1] // 8, SIZE[0] // 8), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    return np.stack([grey] * 3, axis=-1)


def frame(squares: list[Square], t: float) -> np.ndarray:
    image = background().copy()
    for square in squares:
        corner = square.at(t)
        if corner is not None:
            x, y = corner
            image[y:y + SIDE, x:x + SIDE] = COLOURS[square.who]
    return image


def write_clip(path: Path, squares: list[Square], seconds: float, fps: float = FPS) -> Path:
    from client.video.clip import VideoWriter

    with VideoWriter(path, fps, *SIZE) as writer:
        for i in range(round(seconds * fps)):
            writer.write(frame(squares, i / fps))
    return path


def jpeg_frames(squares: list[Square], seconds: float, fps: float = 10) -> list[bytes]:
    from PIL import Image

    out = []
    for i in range(round(seconds * fps)):
        buffer = io.BytesIO()
        Image.fromarray(frame(squares, i / fps)).save(buffer, format="JPEG", quality=85)
        out.append(buffer.getvalue())
    return out


class SquareFaces:
    """FaceClient stand-in: each red or blue square of the frame is a face, its embedding one
    dimension per colour (so the two never match each other)."""

    base_url = "in-process"

    def __init__(self) -> None:
        self.calls = 0

    def embed(self, image) -> EmbeddingResult:
        self.calls += 1
        faces = []
        for dimension, colour in enumerate(COLOURS.values()):
            main = int(np.argmax(colour))
            mask = (image[..., main] > 160) & (image.max(axis=-1) - image.min(axis=-1) > 120)
            ys, xs = np.nonzero(mask)
            if len(xs) > SIDE * SIDE // 3:
                box = (float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1))
                embedding = [1.0 if i == dimension else 0.0 for i in range(len(COLOURS))]
                faces.append(EmbeddedFace(box=box, confidence=0.99, embedding=embedding))
        return EmbeddingResult(model="face-embed:squares", threshold=THRESHOLD, faces=faces)

    def close(self) -> None:
        pass


class ByColour:
    """The gallery stand-in: the red face is ada (0.9), the blue one nobody (0.1)."""

    unknown = "unknown"

    def names(self, answer: EmbeddingResult) -> list[Look]:
        return [Look("ada", 0.9) if face.embedding[0] == 1.0 else Look(None, 0.1) for face in answer.faces]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_port(port: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def mosquitto_binary() -> str | None:
    return shutil.which("mosquitto") or next((p for p in ("/usr/sbin/mosquitto",) if Path(p).exists()), None)


class Mosquitto:
    """A mosquitto broker on a free 127.0.0.1 port, anonymous clients allowed."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        config = folder / "mosquitto.conf"
        config.write_text(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        self.process = subprocess.Popen([mosquitto_binary(), "-c", str(config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        if not wait_port(self.port):
            self.stop()
            raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's, with the GObject bindings (python3-gi)
RTSP_SERVER = Path(__file__).with_name("rtsp_server.py")


def rtsp_server_missing() -> str | None:
    """Why the RTSP server cannot run here (None: it can)."""
    probe = ("import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0'); "
             "from gi.repository import Gst, GstRtspServer; Gst.init(None); "
             "assert all(Gst.ElementFactory.find(e) for e in ('qtdemux', 'h264parse', 'rtph264pay'))")
    try:
        done = subprocess.run([SYSTEM_PYTHON, "-c", probe], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{SYSTEM_PYTHON}: {exc}"
    if done.returncode != 0:
        return ("GStreamer's RTSP server is not installed (apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 "
                "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad)")
    return None


class RtspStream:
    """An H.264 clip served over RTSP at rtsp://127.0.0.1:PORT/cam, paced in real time
    (rtsp_server.py); `kill()` and `start()` again on the same port: a camera that reboots."""

    def __init__(self, clip: Path, port: int | None = None) -> None:
        self.clip, self.port = clip, port or free_port()
        self.url = f"rtsp://127.0.0.1:{self.port}/cam"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([SYSTEM_PYTHON, str(RTSP_SERVER), str(self.clip), str(self.port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_port(self.port, 30):
            self.kill()
            raise RuntimeError("the RTSP server did not start")

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


class WebhookReceiver:
    """An HTTP server taking POSTed JSON; the first `fail_first` requests get a 503."""

    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[dict] = []
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.attempts += 1
                if receiver.attempts <= fail_first:
                    self.send_response(503)
                else:
                    receiver.received.append(json.loads(body))
                    self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def read_events(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def wait_for(condition, timeout_s: float = 30.0, every_s: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every_s)
    return bool(condition())
