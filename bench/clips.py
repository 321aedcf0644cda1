"""Test and benchmark clips: people's photos moving over a cluttered background, entering and
leaving at known times, written as MP4 (for `video identify`) or Y4M (Chromium's fake camera),
or served as an MJPEG camera over HTTP (`MjpegServer`, for `watch`).
Cut clips (`cut_clip`) change who stands at one spot: once without a scene change (only the
face changes) and once with a hard cut to another scene.

Two casts: scikit-image's astronaut and cameraman (always there), or LFW people (the data
folder): each enrolled from other photos of theirs than the one in the clip, plus a stranger
who is not enrolled.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import numpy as np

SIZE = (640, 480)  # width, height
ASTRONAUT = "Eileen Collins"  # scikit-image's astronaut


@dataclass(frozen=True)
class Person:
    name: str
    patch: np.ndarray  # RGB, what is pasted into the frames (head and shoulders)
    enrol: list = field(default_factory=list)  # photos (paths or RGB arrays) to enrol them with; [] : a stranger


@dataclass(frozen=True)
class Appearance:
    person: Person
    start_s: float
    end_s: float  # exclusive
    waypoints: list[tuple[int, int]]  # top-left corners visited at even steps over [start_s, end_s)

    def where(self, t: float) -> tuple[int, int] | None:
        if not self.start_s <= t < self.end_s:
            return None
        share = (t - self.start_s) / (self.end_s - self.start_s) * (len(self.waypoints) - 1)
        i = min(int(share), len(self.waypoints) - 2)
        (x0, y0), (x1, y1) = self.waypoints[i], self.waypoints[i + 1]
        f = share - i
        return round(x0 + (x1 - x0) * f), round(y0 + (y1 - y0) * f)


@dataclass(frozen=True)
class Clip:
    appearances: list[Appearance]
    duration_s: float
    fps: float
    background: np.ndarray
    scenes: tuple[tuple[float, np.ndarray], ...] = ()  # (from this time on, this background): hard cuts

    def frame(self, t: float) -> np.ndarray:
        scene = self.background
        for start_s, later in self.scenes:
            if t >= start_s:
                scene = later
        frame = scene.copy()
        for shown in self.appearances:
            corner = shown.where(t)
            if corner is not None:
                x, y = corner
                h, w = shown.person.patch.shape[:2]
                frame[y:y + h, x:x + w] = shown.person.patch[: SIZE[1] - y, : SIZE[0] - x]
        return frame

    def frames(self) -> Iterator[tuple[float, np.ndarray]]:
        for i in range(round(self.duration_s * self.fps)):
            yield i / self.fps, self.frame(i / self.fps)

    def present(self, t: float) -> list[str | None]:
        """Who is in the frame at t (None: a stranger)."""
        return sorted((a.person.name if a.person.enrol else None for a in self.appearances if a.where(t)),
                      key=lambda n: n or "")

    def truth(self) -> list[dict]:
        return [{"identity": a.person.name if a.person.enrol else None, "start_s": a.start_s, "end_s": a.end_s}
                for a in self.appearances]

    @property
    def people(self) -> list[Person]:
        return list({a.person.name: a.person for a in self.appearances}.values())


def background(seed: int = 0, scene: str = "rocket", inset: str = "coffee") -> np.ndarray:
    """A busy scene: scikit-image's rocket (or another of its photos) with its coffee (or
    another) inset, plus random coloured blocks and lines."""
    from skimage import data

    scene = cv2.resize(getattr(data, scene)()[..., :3], SIZE, interpolation=cv2.INTER_AREA)
    coffee = cv2.resize(getattr(data, inset)()[..., :3], (240, 160), interpolation=cv2.INTER_AREA)
    scene[300:460, 380:620] = coffee
    rng = np.random.default_rng(seed)
    for _ in range(25):
        x, y = int(rng.integers(0, SIZE[0] - 40)), int(rng.integers(0, SIZE[1] - 40))
        w, h = (int(v) for v in rng.integers(10, 60, size=2))
        color = tuple(int(c) for c in rng.integers(0, 256, size=3))
        if rng.random() < 0.5:
            cv2.rectangle(scene, (x, y), (x + w, y + h), color, -1)
        else:
            cv2.line(scene, (x, y), (x + 3 * w, y + h), color, 3)
    return np.ascontiguousarray(scene)


def _scaled(image: np.ndarray, factor: float) -> np.ndarray:
    h, w = image.shape[:2]
    return cv2.resize(image, (round(w * factor), round(h * factor)), interpolation=cv2.INTER_AREA)


def packaged_people() -> list[Person]:
    """The astronaut and the cameraman: head-and-shoulders crops (faces about 80-110 px),
    enrolled from the whole photos."""
    from skimage import data

    astronaut = data.astronaut()
    cameraman = cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2RGB)
    return [Person(ASTRONAUT, _scaled(astronaut[10:260, 100:350], 0.8), [astronaut]),
            Person("cameraman", _scaled(cameraman[60:260, 126:326], 1.2), [cameraman])]


def packaged_clip(fps: float = 25.0) -> Clip:
    """8 s: the astronaut from 0 to 6 s walking right; the cameraman from 2 s to the end walking left."""
    astronaut, cameraman = packaged_people()
    return Clip([Appearance(astronaut, 0.0, 6.0, [(10, 40), (110, 140), (60, 220)]),
                 Appearance(cameraman, 2.0, 8.0, [(400, 200), (340, 60), (390, 120)])],
                8.0, fps, background())


def camera_loop(fps: float = 15.0) -> Clip:
    """6 s that loop without a jump (Chromium's fake camera replays the file): both people
    there all the time, moving."""
    astronaut, cameraman = packaged_people()
    return Clip([Appearance(astronaut, 0.0, 6.0, [(20, 40), (100, 160), (50, 220), (20, 40)]),
                 Appearance(cameraman, 0.0, 6.0, [(390, 200), (340, 60), (400, 120), (390, 200)])],
                6.0, fps, background())


def lfw_crop(data_dir: Path, name: str, i: int) -> np.ndarray:
    """Photo `i` of `name`, cropped to the head and shoulders."""
    photo = Path(data_dir) / "lfw" / "lfw-deepfunneled" / name / f"{name}_{i:04d}.jpg"
    return cv2.cvtColor(cv2.imread(str(photo)), cv2.COLOR_BGR2RGB)[30:220, 40:210]


def lfw_people(data_dir: Path, count: int = 4, seed: int = 0) -> list[Person]:
    """`count` peopleDevTest people with at least 3 photos (the last one a stranger, not
    enrolled): photos 1 and 2 enrol them, photo 3 is the one in the clip; each cropped to
    the head and shoulders, as LFW photos often show other people at the edges."""
    lines = (Path(data_dir) / "lfw" / "peopleDevTest.txt").read_text().split("\n")[1:]
    names = sorted(name for name, n in (line.split("\t") for line in lines if line.strip()) if int(n) >= 3)
    chosen = np.random.default_rng(seed).choice(len(names), size=count, replace=False)
    people = []
    for rank, index in enumerate(chosen):
        name = names[int(index)]
        enrol = [lfw_crop(data_dir, name, 1), lfw_crop(data_dir, name, 2)] if rank < count - 1 else []
        people.append(Person(name, lfw_crop(data_dir, name, 3), enrol))
    return people


def crowd(people: list[Person], seconds: float = 10.0, fps: float = 25.0) -> Clip:
    """Up to three people there the whole time, each walking up and down its own third of the frame."""
    lanes = [[(10, 30), (50, 260), (10, 30)], [(230, 260), (250, 20), (230, 260)], [(450, 40), (420, 250), (450, 40)]]
    return Clip([Appearance(person, 0.0, seconds, lane) for person, lane in zip(people, lanes, strict=False)],
                seconds, fps, background())


def lfw_clip(data_dir: Path, fps: float = 25.0, seed: int = 0) -> Clip:
    """10 s, at most 3 faces at once: three enrolled people and a stranger entering and leaving."""
    a, b, c, stranger = lfw_people(data_dir, 4, seed)
    return Clip([Appearance(a, 0.0, 4.5, [(10, 30), (50, 270)]),
                 Appearance(b, 1.5, 7.0, [(240, 270), (250, 20)]),
                 Appearance(c, 3.0, 9.5, [(450, 40), (420, 260)]),
                 Appearance(stranger, 5.0, 8.0, [(60, 250), (30, 60)])],
                10.0, fps, background(seed))


SPOT = [(200, 120), (230, 135), (205, 125), (235, 140)]  # where cut clips' people stand, swaying a little
OTHER_SCENE = {"scene": "chelsea", "inset": "rocket"}  # after the cut: another scene altogether


def cut_clip(first: Person, stranger: Person, last: Person, passer_by: Person | None = None,
             fps: float = 25.0, seed: int = 0) -> Clip:
    """9 s, one spot: `first` there from 0 to 3 s; from 3 s `stranger` in the same place, in
    the same scene (only the face changes: no cut for the scene detector to see); at 5.5 s a
    hard cut to another scene, where `last` stands at the same spot until the end. A
    `passer_by` walks down the left edge from 0.5 to 5 s, before the cut."""
    appearances = [Appearance(first, 0.0, 3.0, SPOT[:2]), Appearance(stranger, 3.0, 5.5, SPOT[1:3]),
                   Appearance(last, 5.5, 9.0, SPOT[2:])]
    if passer_by is not None:
        appearances.append(Appearance(passer_by, 0.5, 5.0, [(10, 20), (15, 280)]))
    return Clip(appearances, 9.0, fps, background(seed), scenes=((5.5, background(seed + 1, **OTHER_SCENE)),))


def packaged_cut_clip(fps: float = 25.0) -> Clip:
    """`cut_clip` without data: the astronaut (enrolled), replaced by the cameraman as a
    stranger (not enrolled), then after the cut the astronaut again."""
    astronaut, cameraman = packaged_people()
    return cut_clip(astronaut, dataclasses.replace(cameraman, name="stranger", enrol=[]), astronaut, fps=fps)


def lfw_cut_clip(data_dir: Path, fps: float = 25.0, seed: int = 0) -> Clip:
    """`cut_clip` with LFW people: one enrolled person, the stranger, another enrolled person,
    and a third enrolled one passing by."""
    a, b, c, stranger = lfw_people(data_dir, 4, seed)
    return cut_clip(a, stranger, b, passer_by=c, fps=fps, seed=seed)


def write_mp4(clip: Clip, path: Path) -> Path:
    from client.video.clip import VideoWriter

    with VideoWriter(path, clip.fps, *SIZE) as writer:
        for _, frame in clip.frames():
            writer.write(frame)
    return path


@dataclass
class MjpegServer:
    """An MJPEG stream (multipart/x-mixed-replace) at http://127.0.0.1:PORT/stream.mjpg, the
    frames looped at `fps`, until `drop()` closes every connection (then it serves again)."""

    frames: list[bytes]
    fps: float = 10.0
    connections: int = 0
    dropping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
                self.end_headers()
                i = 0
                try:
                    while not server.dropping.is_set():
                        jpeg = server.frames[i % len(server.frames)]
                        self.wfile.write(b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                                         + str(len(jpeg)).encode() + b"\r\n\r\n" + jpeg + b"\r\n")
                        i += 1
                        time.sleep(1 / server.fps)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/stream.mjpg"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self) -> None:
        self.dropping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def write_y4m(clip: Clip, path: Path) -> Path:
    """Raw 4:2:0 frames as Chromium's --use-file-for-fake-video-capture reads them."""
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{SIZE[0]} H{SIZE[1]} F{round(clip.fps)}:1 Ip A1:1 C420jpeg\n".encode())
        for _, frame in clip.frames():
            out.write(b"FRAME\n")
            out.write(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


def matched_tracks(tracks: list[dict], clip: Clip, min_frames: int = 3) -> list[dict]:
    """Each appearance of the clip with the track closest to it in time (start and end; one
    track per appearance; tracks of fewer than `min_frames` frames left out): whether the
    identity is right, and how far its start and end are from the truth, in seconds.
    Then `{"extra": track}` for each track matched to nobody."""
    kept = [t for t in tracks if t["frames"] >= min_frames]
    rows, used = [], set()
    for truth in clip.truth():
        last_frame = truth["end_s"] - 1 / clip.fps  # the last frame the person is in
        overlapping = [t for t in kept if t["track"] not in used
                       and min(t["end_s"], last_frame) >= max(t["start_s"], truth["start_s"])]
        best = min(overlapping, key=lambda t: abs(t["start_s"] - truth["start_s"]) + abs(t["end_s"] - last_frame),
                   default=None)
        if best is None:
            rows.append({**truth, "track": None, "found": None, "identity_ok": False,
                         "start_error_s": None, "end_error_s": None})
            continue
        used.add(best["track"])
        rows.append({**truth, "track": best["track"], "found": best["identity"],
                     "identity_ok": best["identity"] == truth["identity"],
                     "start_error_s": round(abs(best["start_s"] - truth["start_s"]), 3),
                     "end_error_s": round(abs(best["end_s"] - last_frame), 3)})
    return rows + [{"extra": t} for t in kept if t["track"] not in used]
