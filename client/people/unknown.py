"""Unknown faces seen by `video identify` and by cameras (`watch`), collected into a people
state (index.py) and grouped as a photo collection's faces are: each unknown person becomes a
group to name, shown as "Unknown person 12" by `people show` and the People tab until named.

    collect = UnknownFaces("people-state/")
    identify_clip("party.mp4", client, gallery, fps=5, collect=collect)   # saved at the clip's end
    Watcher(cameras, ..., collect=collect).run(stop); collect.close()      # saved now and then, and at close

What is kept of a track whose votes agreed on nobody enrolled (and never on a name): its
`faces_per_track` best look-ups (the largest, most confident faces its votes came from), each
with its embedding and box, where (the camera's name, the clip's path) and when (seconds) it
was seen; never pixels, but a watch that keeps snapshots gives the track's crop as its
picture. A look-up's frame stands for its photo (two faces of one frame are never one
person), and two tracks seen together in a frame are set apart for good. A track's faces
are not pinned together (pins would also keep two tracks of one person apart for good):
they are seconds apart and link by similarity as any faces do.

Other processes may change the state meanwhile (`people name`, the People tab): each write
takes the state's lock, loads the state as it is then, adds the new faces, places them
(PeopleIndex.assign: groups and names kept, new faces join them or form new groups) and saves
it. Writes come every `save_every_s` while tracks end (when another process holds the lock,
e.g. a long `people discover`, the faces wait for the next one), at a clip's end and at
`close()`, which waits for the lock.
"""
from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ..models import EmbeddedFace, EmbeddingResult
from .index import STATE_FILE, PeopleError, PeopleIndex, state_lock

logger = logging.getLogger("face_verify.people")

FACES_PER_TRACK = 3
SAVE_EVERY_S = 30.0
FULL_SIZE_PX = 112  # a face this large (the box's shorter side) counts fully for a look's quality: the aligned crop
REMEMBERED_TRACKS = 1000  # collected tracks whose face ids are kept, to set apart tracks that ended later


@dataclass(frozen=True)
class Look:
    """One look-up of a track: what is kept of it."""

    time: float
    box: tuple[float, float, float, float]
    confidence: float
    embedding: list[float]

    @property
    def quality(self) -> float:
        return min(1.0, min(self.box[2], self.box[3]) / FULL_SIZE_PX) * self.confidence


@dataclass
class _Track:
    looks: list[Look] = field(default_factory=list)  # the best ones, best first
    unknown: bool = False  # its votes last agreed on nobody enrolled
    named: bool = False  # they agreed on a name at some time
    together: set[int] = field(default_factory=set)  # tracks seen in one frame with it
    snapshot: str | None = None


@dataclass(frozen=True)
class SeenTrack:
    """An unknown track to add to the state."""

    key: str  # unique: its source, the run, its number
    source: str
    run: str
    looks: list[Look]
    snapshot: str | None = None
    apart: tuple[str, ...] = ()  # keys of collected tracks seen together with it


class UnknownFaces:
    """Collects the faces of unknown tracks into the people state at `folder`.

    faces_per_track: look-ups kept per track (its best: large and confident).
    save_every_s: how often the state is written while tracks end.
    """

    def __init__(self, folder: str | os.PathLike, *, faces_per_track: int = FACES_PER_TRACK,
                 save_every_s: float = SAVE_EVERY_S) -> None:
        if faces_per_track < 1:
            raise ValueError(f"faces_per_track must be >= 1, not {faces_per_track}")
        self.folder, self.faces_per_track, self.save_every_s = Path(folder).expanduser(), faces_per_track, save_every_s
        self.model: str | None = None
        self.threshold: float | None = None
        self.far_thresholds: list | None = None
        self.collected = 0  # tracks written to the state
        self.added = 0  # faces written to the state
        self._pending: list[SeenTrack] = []
        self._saved: OrderedDict[str, list[int]] = OrderedDict()  # track key -> its face ids in the state
        self._lock = threading.Lock()  # the pending tracks and the served model
        self._saving = threading.Lock()  # one write at a time
        self._last_save = time.monotonic()
        self._runs = 0
        self.state_model = self._check_state()

    def _check_state(self) -> str | None:
        """The state's model; a state that cannot be read fails now, not at the end of a long watch."""
        with state_lock(self.folder, shared=True):
            if not (self.folder / STATE_FILE).exists():
                return None
            return PeopleIndex.load(self.folder).model

    # ------------------------------------------------------------------ hooks

    def watching(self, identifier):
        """`identifier` (video/identities.py) that also notes the service's model and thresholds
        from the look-ups it answers: the state needs them."""
        return _NotingIdentifier(identifier, self)

    def served(self, answer: EmbeddingResult) -> None:
        with self._lock:
            if answer.model != self.model:
                if self.state_model is not None and answer.model != self.state_model:
                    logger.error("unknown faces not collected: the people state %s holds embeddings of %s, the "
                                 "service sends %s", self.folder, self.state_model, answer.model)
                self.model = answer.model
            self.threshold = answer.threshold
            if answer.far_thresholds:
                self.far_thresholds = answer.far_thresholds

    def source(self, name: str) -> SourceCollector:
        """The collector of one camera or clip (one thread)."""
        with self._lock:
            self._runs += 1
            run = f"{time.time_ns()}-{os.getpid()}-{self._runs}"
        return SourceCollector(self, name, run)

    def attach(self, watch) -> None:
        """Collects from a camera's CameraWatch (cameras/watch.py): its tracks through its
        Presence, the crops of its unknown faces (with snapshots) through a sink of its own."""
        from ..cameras.events import Presence

        source = self.source(watch.camera.name)

        class Collecting(Presence):
            def update(self, t, faces, ended=()):
                source.update(t, faces, ended)
                return super().update(t, faces, ended)

            def finish(self, t=None):
                source.finish()
                return super().finish(t)

        watch.presence = Collecting(watch.camera.name)
        watch.sinks = [*watch.sinks, _SnapshotSink(source)]

    def add(self, track: SeenTrack) -> None:
        with self._lock:
            self._pending.append(track)

    def due(self) -> None:
        """Writes the state if `save_every_s` passed since the last write (without waiting for
        the lock or for another thread's write)."""
        if not self._pending or time.monotonic() - self._last_save < self.save_every_s:
            return
        if not self._saving.acquire(blocking=False):
            return
        try:
            self._save(wait=False)
        except (PeopleError, OSError) as exc:
            logger.error("unknown faces not written to %s: %s", self.folder, exc)
        finally:
            self._saving.release()

    def save(self) -> int:
        """Writes the tracks collected so far (waiting for the lock); how many faces."""
        with self._saving:
            return self._save(wait=True)

    def close(self) -> int:
        return self.save()

    # ------------------------------------------------------------------ writing

    def _save(self, wait: bool) -> int:
        self._last_save = time.monotonic()
        with self._lock:
            batch, self._pending = self._pending, []
            model, threshold, far = self.model, self.threshold, self.far_thresholds
        if not batch:
            return 0
        if model is None:
            raise PeopleError("no look-up answer: the service's model is not known")
        with state_lock(self.folder, blocking=wait) as held:
            if not held:  # someone else is changing the state: next time
                with self._lock:
                    self._pending = batch + self._pending
                return 0
            index = PeopleIndex.open(self.folder)
            index.set_model(model, threshold, far)
            self.state_model = model
            added = 0
            for track in batch:
                ids = []
                for look in track.looks:
                    ids.append(index.add_seen(frame_key(track.source, track.run, look.time),
                                              EmbeddedFace(box=look.box, confidence=look.confidence,
                                                           embedding=look.embedding),
                                              source=track.source, time=look.time, snapshot=track.snapshot))
                for other in track.apart:
                    for a in self._saved.get(other, []):
                        if a < len(index.faces) and index.faces[a].source == track.source:
                            index.apart.update((min(a, b), max(a, b)) for b in ids)
                self._saved[track.key] = ids
                while len(self._saved) > REMEMBERED_TRACKS:
                    self._saved.popitem(last=False)
                added += len(ids)
            index.assign()
            index.save(self.folder)
        self.collected += len(batch)
        self.added += added
        return added


def frame_key(source: str, run: str, t: float) -> str:
    """A frame's key, as a photo's sha256 is the photo's: its faces are two people."""
    return hashlib.sha256(f"{source}\n{run}\n{t:.3f}".encode()).hexdigest()


class SourceCollector:
    """One camera's or clip's tracks: `update(t, faces, ended)` per frame (time in seconds,
    tracking.TrackedFace list, the tracks that ended), `finish()` when every track ends."""

    def __init__(self, collect: UnknownFaces, name: str, run: str) -> None:
        self.collect, self.name, self.run = collect, name, run
        self.tracks: dict[int, _Track] = {}
        self.collected: dict[int, str] = {}  # ended tracks collected, that a live track was seen with

    def update(self, t: float, faces: list, ended: Iterable[int] = ()) -> None:
        for number in ended:
            self._end(number)
        here = {face.track for face in faces}
        for face in faces:
            track = self.tracks.setdefault(face.track, _Track())
            track.together |= here - {face.track}
            if face.label.agreed:
                track.unknown = face.label.name is None
                track.named = track.named or face.label.name is not None
            if face.embedding and face.label.agreed and face.label.name is None and not track.named:
                look = Look(float(t), tuple(float(v) for v in face.box),  # type: ignore[arg-type]
                            1.0 if face.confidence is None else float(face.confidence), list(face.embedding))
                track.looks = sorted([*track.looks, look], key=lambda k: (-k.quality, k.time))
                del track.looks[self.collect.faces_per_track:]
        if ended:
            self.collect.due()

    def snapshot(self, number: int, path: str) -> None:
        if number in self.tracks:
            self.tracks[number].snapshot = path

    def finish(self) -> None:
        for number in list(self.tracks):
            self._end(number)
        self.collect.due()

    def _end(self, number: int) -> None:
        track = self.tracks.pop(number, None)
        if track is None:
            return
        if track.unknown and not track.named and track.looks:
            key = f"{self.name}\n{self.run}\n{number}"
            apart = tuple(self.collected[n] for n in sorted(track.together) if n in self.collected)
            self.collect.add(SeenTrack(key, self.name, self.run, list(track.looks), track.snapshot, apart))
            self.collected[number] = key
        seen_with = {n for live in self.tracks.values() for n in live.together}
        self.collected = {n: key for n, key in self.collected.items() if n in seen_with}


class _NotingIdentifier:
    def __init__(self, identifier, collect: UnknownFaces) -> None:
        self.identifier, self.collect, self.unknown = identifier, collect, identifier.unknown

    def names(self, answer: EmbeddingResult):
        self.collect.served(answer)
        return self.identifier.names(answer)


class _SnapshotSink:
    """Notes the crop of each unknown face's track (an unknown_face event's `snapshot`)."""

    def __init__(self, source: SourceCollector) -> None:
        self.source = source

    def send(self, event: dict) -> None:
        if event.get("event") == "unknown_face" and event.get("snapshot"):
            self.source.snapshot(int(event["track"]), str(event["snapshot"]))

    def present(self, camera: str, state: dict) -> None:
        pass

    def close(self) -> None:
        pass
