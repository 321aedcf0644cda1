"""A photo collection's people: faces grouped by person, kept up to date as photos are added and
as the user corrects the groups.

    index = PeopleIndex(threshold=answer.threshold, far_thresholds=answer.far_thresholds, model=answer.model)
    index.add_photo("beach.jpg", sha256, answer.faces)      # every face of a face-embed answer
    index.assign()                                          # new faces join groups (or form new ones)
    index.name("g3", "Ada"); index.merge("g3", "g7"); index.reject(face_id)
    index.save("people-state/")                             # people.json + embeddings.npy

Groups have stable ids ("g1", "g2", ...; never reused). The user's decisions are pins that
every later grouping keeps: the faces of a group the user named, merged or split are pinned
to it (they stay together, and apart from other pinned groups), and a face the user rejected
from a group is set apart from the faces it was grouped with. `recluster()` groups every face
again (grouping.group_faces: Chinese whispers, then small groups join the group whose centroid
is most like theirs) and gives each new group the id of the old group it shares most faces
with; `assign()` only places new faces: a face joins the group its grouped neighbours vote for
(the Chinese-whispers rule, one step) unless the group holds a face of its photo; the rest are
grouped among themselves; then small groups join by centroid as in `recluster()`, checked only
against the groups that changed.

Faces smaller than `min_face_size` pixels or below `min_confidence` (the detector's) are left
unassigned: their embeddings are too unreliable to link.

Faces seen in video or by a camera (`add_seen`, unknown.py) have no photo: `source` says where
and `time` when; their frame stands for the photo (two faces of one frame are two people). An
unnamed group of such faces only is shown as "Unknown person N" (`label`).

Other processes share a state folder (the CLI, the page, a watch collecting unknown faces):
each reads, changes and saves it under `state_lock(folder)`, so no change is lost.
"""
from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from ..models import EmbeddedFace, FarThreshold
from .grouping import DEFAULT_SMALL_GROUP, group_faces, join_small_groups
from .threshold import DEFAULT_FALSE_LINK_RATE, grouping_threshold

STATE_FILE = "people.json"
VECTORS_FILE = "embeddings.npy"
LOCK_FILE = ".lock"
FORMAT = 1
MIN_FACE_SIZE = 40.0  # pixels, the box's shorter side: the aligned crop is 112 px
MIN_CONFIDENCE = 0.7  # the detector's score
NEW_FACES_AT_ONCE = 256  # new faces scored against the grouped ones at once (256 x 100k floats: 100 MB)
SCORES_AT_ONCE = 64_000_000  # at most this many scores at once (256 MB): fewer new faces in a large collection

# identify(embeddings k x D) -> a name or None (unknown) per face: a gallery, or any lookup
Identify = Callable[[np.ndarray], Sequence[str | None]]


class PeopleError(ValueError):
    """A request the state cannot carry out (unknown group or face, a different model)."""


@dataclass
class Face:
    id: int
    photo: str  # the photo as given (a path)
    sha256: str  # the photo's content: one photo, one person per face
    box: list[float]  # [x, y, w, h] in the photo's pixels
    confidence: float
    group: str | None = None  # None: not grouped (yet, or `unassigned` says why)
    pin: str | None = None  # the group the user put the face in
    unassigned: str | None = None  # small_face | low_confidence
    source: str | None = None  # a face seen in video: the camera's name or the clip's path (None: a photo's)
    time: float | None = None  # ... when: Unix time (a camera) or the position in the clip, s
    snapshot: str | None = None  # ... a crop of it to show, if one was kept (watch --snapshots)


@dataclass
class Group:
    id: str
    name: str | None = None
    named_by: str | None = None  # user | gallery


@dataclass
class PeopleIndex:
    model: str | None = None
    threshold: float | None = None  # the server's verification threshold
    far_thresholds: list[dict] = field(default_factory=list)  # the server's calibration table
    false_link_rate: float = DEFAULT_FALSE_LINK_RATE
    one_person_per_photo: bool = True  # False for collages: two faces of a photo may be one person
    small_group: int = DEFAULT_SMALL_GROUP  # groups of at most this many faces may join by centroid
    min_face_size: float = MIN_FACE_SIZE
    min_confidence: float = MIN_CONFIDENCE
    faces: list[Face] = field(default_factory=list)
    groups: dict[str, Group] = field(default_factory=dict)
    apart: set[tuple[int, int]] = field(default_factory=set)  # face ids the user set apart
    photos: dict[str, str] = field(default_factory=dict)  # sha256 -> photo: embedded (resume)
    next_group: int = 1
    stored: np.ndarray = field(default_factory=lambda: np.empty((0, 0), dtype=np.float32), repr=False)
    # embeddings added since `vectors` was last read: one concatenation for many photos
    pending: list[np.ndarray] = field(default_factory=list, repr=False, compare=False)

    @property
    def vectors(self) -> np.ndarray:
        """The embeddings, row k: face k."""
        if self.pending:
            self.stored = np.concatenate(([self.stored] if len(self.stored) else []) + self.pending)
            self.pending = []
        return self.stored

    # ------------------------------------------------------------------ adding faces

    def set_model(self, model: str, threshold: float | None, far_thresholds: Iterable | None) -> None:
        """The model whose embeddings the state holds, with its thresholds (from a face-embed
        answer). Embeddings of different models cannot be compared: a change is refused."""
        if self.model is not None and model != self.model:
            raise PeopleError(f"the state holds embeddings of {self.model}, the server sends {model}: "
                              "start a new state folder")
        self.model = model
        if threshold is not None:
            self.threshold = float(threshold)
        if far_thresholds:
            self.far_thresholds = [row.model_dump() if isinstance(row, FarThreshold) else dict(row)
                                   for row in far_thresholds]

    def add_photo(self, photo: str, sha256: str, faces: Sequence[EmbeddedFace]) -> list[int]:
        """Stores the photo's faces (not grouped yet: `assign`). A photo whose content is
        already stored adds nothing. Returns the new faces' ids."""
        if sha256 in self.photos:
            return []
        self.photos[sha256] = photo
        added = []
        for found in faces:
            face = Face(id=len(self.faces), photo=photo, sha256=sha256, box=[float(v) for v in found.box],
                        confidence=float(found.confidence))
            if min(face.box[2], face.box[3]) < self.min_face_size:
                face.unassigned = "small_face"
            elif face.confidence < self.min_confidence:
                face.unassigned = "low_confidence"
            self.faces.append(face)
            added.append(face.id)
        if added:
            rows = np.asarray([found.embedding for found in faces], dtype=np.float32)
            self.pending.append(rows)
        return added

    def add_seen(self, frame: str, face: EmbeddedFace, *, source: str, time: float,
                 snapshot: str | None = None) -> int:
        """Stores a face seen in video (not grouped yet: `assign`). `frame`: its frame's key (64
        hex digits, as a photo's sha256): faces of one frame are never one person. Returns its id."""
        shown = datetime_of(time) if time >= SEEN_AS_UNIX_TIME else f"{time:.2f}s"
        added = Face(id=len(self.faces), photo=f"{source}@{shown}", sha256=frame, box=[float(v) for v in face.box],
                     confidence=float(face.confidence), source=source, time=float(time), snapshot=snapshot)
        if min(added.box[2], added.box[3]) < self.min_face_size:
            added.unassigned = "small_face"
        elif added.confidence < self.min_confidence:
            added.unassigned = "low_confidence"
        self.faces.append(added)
        self.pending.append(np.asarray([face.embedding], dtype=np.float32))
        return added.id

    def grouping_threshold(self) -> float:
        """The threshold for the collection's current size (threshold.py)."""
        if self.threshold is None:
            raise PeopleError("no threshold: the state has no face-embed answer yet")
        return grouping_threshold(self.threshold, self.far_thresholds, len(self.eligible()), self.false_link_rate)

    def eligible(self) -> list[int]:
        return [face.id for face in self.faces if face.unassigned is None]

    # ------------------------------------------------------------------ grouping

    def assign(self, identify: Identify | None = None) -> list[int]:
        """Places the faces not grouped yet: each joins the existing group its grouped
        neighbours (faces it scores >= the threshold with) carry the most similarity for, the
        Chinese-whispers vote, unless that group holds a face of its photo or one it was set
        apart from (then the next best); faces with no such neighbour are grouped among
        themselves into new groups. Then groups of at most `small_group` faces join the group
        whose centroid is most like theirs (grouping.join_small_groups), where either changed.
        Then unnamed groups are named by `identify` (gallery_link.py). Returns the faces placed."""
        new = [i for i in self.eligible() if self.faces[i].group is None]
        if not new:
            return []
        threshold = self.grouping_threshold()
        grouped = np.array([i for i in self.eligible() if self.faces[i].group is not None], dtype=np.int64)
        # by face id, so the new faces are scored against all the embeddings (no copy of the grouped ones)
        group_of = np.full(len(self.faces), None, dtype=object)
        group_of[grouped] = [self.faces[i].group for i in grouped]
        vectors = self.vectors
        at_once = max(1, min(NEW_FACES_AT_ONCE, SCORES_AT_ONCE // max(1, len(vectors))))
        members = self.members()
        photos_of = {g: {self.faces[i].sha256 for i in faces} for g, faces in members.items()}
        apart_of = self.apart_map()
        left, changed = [], set()
        for start in range(0, len(new), at_once):
            chunk = new[start:start + at_once]
            scores = vectors[chunk] @ vectors.T if len(grouped) else np.empty((len(chunk), 0))
            for i, row in zip(chunk, scores, strict=True):
                votes: dict[str, float] = {}
                for k in np.flatnonzero(row >= threshold).tolist():
                    if group_of[k] is not None:
                        votes[group_of[k]] = votes.get(group_of[k], 0.0) + float(row[k])
                face = self.faces[i]
                for group in sorted(votes, key=lambda g: (-votes[g], group_order(g))):
                    if (self.one_person_per_photo and face.sha256 in photos_of[group]) or \
                            apart_of.get(i, set()) & set(members[group]):
                        continue
                    face.group = group
                    members[group].append(i)
                    photos_of[group].add(face.sha256)
                    changed.add(group)
                    break
                if face.group is None:
                    left.append(i)
        if left:
            found, label_of = np.unique(self.link(left, threshold), return_inverse=True)
            made = [self.new_group() for _ in found]
            changed.update(made)
            for position, k in enumerate(label_of.reshape(-1).tolist()):
                self.faces[left[position]].group = made[k]
        if len(grouped):  # with no groups before, `link` already joined the new ones
            self.join_small(changed, threshold)
        self.name_from(identify)
        return new

    def join_small(self, changed: set[str], threshold: float) -> None:
        """grouping.join_small_groups over the grouped faces, pairs with a `changed` group only;
        a joined pair keeps the older id (or the pinned group's)."""
        faces = [i for i in self.eligible() if self.faces[i].group is not None]
        order = sorted({str(self.faces[i].group) for i in faces}, key=group_order)  # older ids: lower labels
        number = {group: k for k, group in enumerate(order)}
        position = {face: k for k, face in enumerate(faces)}
        apart = [(position[a], position[b]) for a, b in self.apart if a in position and b in position]
        joined = join_small_groups(
            self.vectors[faces], np.array([number[str(self.faces[i].group)] for i in faces], dtype=np.int64),
            threshold, small=self.small_group,
            photos=[self.faces[i].sha256 for i in faces] if self.one_person_per_photo else None,
            pins=[self.faces[i].pin for i in faces], apart=apart, changed=[number[g] for g in changed if g in number])
        for k, i in enumerate(faces):
            self.faces[i].group = order[int(joined[k])]
        kept = set(self.members())
        for group in [g for g in order if g not in kept]:
            self.groups.pop(group, None)

    def recluster(self, identify: Identify | None = None) -> None:
        """Groups every eligible face again (the pins and set-apart pairs kept); each new group
        takes the id (and name) of the old group it shares most faces with (greedy, largest
        overlaps first), a group holding pinned faces always its pin's id."""
        faces = self.eligible()
        if not faces:
            return
        labels = self.link(faces, self.grouping_threshold())
        old = [self.faces[i].group for i in faces]
        taken: dict[int, str] = {}
        pins_of: dict[int, set[str]] = {}
        for label, i in zip(labels.tolist(), faces, strict=True):
            if self.faces[i].pin:
                pins_of.setdefault(label, set()).add(str(self.faces[i].pin))
        for label, pins in pins_of.items():
            taken[label] = min(pins)  # one pin per group: the linkage keeps pins apart
        overlaps: dict[tuple[int, str], int] = {}
        for label, group in zip(labels.tolist(), old, strict=True):
            if group is not None:
                overlaps[(label, group)] = overlaps.get((label, group), 0) + 1
        used = set(taken.values())
        for (label, group), _ in sorted(overlaps.items(), key=lambda item: (-item[1], item[0])):
            if label not in taken and group not in used:
                taken[label] = group
                used.add(group)
        for label in np.unique(labels):
            taken.setdefault(int(label), self.new_group())
        for k, i in enumerate(faces):
            self.faces[i].group = taken[int(labels[k])]
        self.groups = {g: self.groups.get(g, Group(g)) for g in sorted(set(taken.values()), key=group_order)}
        self.name_from(identify)

    def link(self, faces: list[int], threshold: float) -> np.ndarray:
        """grouping.group_faces of `faces` (ids) with the state's constraints."""
        position = {face: k for k, face in enumerate(faces)}
        apart = [(position[a], position[b]) for a, b in self.apart if a in position and b in position]
        return group_faces(self.vectors[faces], threshold, small=self.small_group,
                           photos=[self.faces[i].sha256 for i in faces] if self.one_person_per_photo else None,
                           pins=[self.faces[i].pin for i in faces], apart=apart)

    def name_from(self, identify: Identify | None) -> None:
        """Names each unnamed group after the person `identify` finds for at least half of its faces."""
        if identify is None:
            return
        members = {g: faces for g, faces in self.members().items() if self.groups[g].name is None}
        faces = [i for group in members.values() for i in group]
        if not faces:
            return
        found = dict(zip(faces, identify(self.vectors[faces]), strict=True))
        for group, ids in members.items():
            names = [found[i] for i in ids if found[i] is not None]
            best = max(set(names), key=names.count) if names else None
            if best is not None and 2 * names.count(best) >= len(ids):
                self.groups[group].name, self.groups[group].named_by = best, "gallery"

    # ------------------------------------------------------------------ the user's decisions

    def name(self, group: str, name: str, enrol: Callable[[str, list[Face], np.ndarray], None] | None = None) -> None:
        """Names a group and pins its faces to it. `enrol(name, faces, embeddings)`: makes the
        group a person elsewhere, e.g. in a gallery (gallery.py)."""
        faces = self.members()[self.check_group(group)]
        if not name.strip():
            raise PeopleError("a name must not be empty")
        self.groups[group].name, self.groups[group].named_by = name.strip(), "user"
        self.pin(group)
        if enrol is not None:
            enrol(name.strip(), [self.faces[i] for i in faces], self.vectors[faces])

    def merge(self, keep: str, other: str) -> str:
        """One person: `other`'s faces move to `keep` (its name kept if `keep` has none), all pinned."""
        self.check_group(keep), self.check_group(other)
        if keep == other:
            raise PeopleError("a group cannot be merged with itself")
        for face in self.faces:
            if face.group == other:
                face.group = keep
        if self.groups[keep].name is None:
            self.groups[keep].name, self.groups[keep].named_by = self.groups[other].name, self.groups[other].named_by
        del self.groups[other]
        self.pin(keep)
        return keep

    def split(self, group: str, faces: Iterable[int]) -> str:
        """`faces` of `group` become a new group; both parts are pinned (they stay apart)."""
        members = set(self.members()[self.check_group(group)])
        moving = {int(i) for i in faces}
        if not moving or not moving < members:
            raise PeopleError(f"give some, not all, of the faces of {group}: {sorted(members)}")
        new = self.new_group()
        for i in moving:
            self.faces[i].group = new
        self.pin(group)
        self.pin(new)
        return new

    def reject(self, face_id: int) -> str:
        """The face is not the person of its group: set apart from the group's faces for good,
        it becomes a group of its own. Returns that group's id."""
        face = self.check_face(face_id)
        if face.group is None:
            raise PeopleError(f"face {face_id} is in no group")
        for other in self.members()[face.group]:
            if other != face_id:
                self.apart.add((min(face_id, other), max(face_id, other)))
        face.pin, face.group = None, self.new_group()
        return face.group

    def pin(self, group: str) -> None:
        for face in self.faces:
            if face.group == group:
                face.pin = group

    # ------------------------------------------------------------------ reading

    def members(self) -> dict[str, list[int]]:
        """Each group's face ids, in group order."""
        found: dict[str, list[int]] = {group: [] for group in self.groups}
        for face in self.faces:
            if face.group is not None:
                found.setdefault(face.group, []).append(face.id)
        return {group: faces for group, faces in found.items() if faces}

    def apart_map(self) -> dict[int, set[int]]:
        found: dict[int, set[int]] = {}
        for a, b in self.apart:
            found.setdefault(a, set()).add(b)
            found.setdefault(b, set()).add(a)
        return found

    def new_group(self) -> str:
        group = f"g{self.next_group}"
        self.next_group += 1
        self.groups[group] = Group(group)
        return group

    def check_group(self, group: str) -> str:
        if group not in self.members():
            raise PeopleError(f"no group {group!r}")
        return group

    def check_face(self, face_id: int) -> Face:
        if not 0 <= face_id < len(self.faces):
            raise PeopleError(f"no face {face_id}")
        return self.faces[face_id]

    def label(self, group: str) -> str | None:
        """What a group is shown as: its name; unnamed, "Unknown person N" (N: its number) when
        all its faces were seen in video, else None."""
        if self.groups[group].name is not None:
            return self.groups[group].name
        faces = self.members().get(group, [])
        if faces and all(self.faces[i].source is not None for i in faces):
            return f"Unknown person {group[1:]}"
        return None

    def face_entry(self, face_id: int) -> dict:
        """{"face", "photo", "box"}, and for a face seen in video its "source", "time" and "snapshot"."""
        face = self.faces[face_id]
        entry = {"face": face.id, "photo": face.photo, "box": face.box}
        if face.source is not None:
            entry |= {"source": face.source, "time": face.time, "snapshot": face.snapshot}
        return entry

    def summary(self, min_faces: int = 1) -> dict:
        """{"groups": [{"id", "name", "label", "faces": [{"face", "photo", "box"}]}], "unassigned": [...]}:
        groups of at least `min_faces` faces, largest first, `label` as shown (`label()`); the
        other faces are unassigned (with why: small_face, low_confidence, or alone for a group
        smaller than `min_faces`). Faces seen in video also have "source", "time", "snapshot"."""
        groups, unassigned = [], []
        for group, ids in sorted(self.members().items(), key=lambda item: (-len(item[1]), group_order(item[0]))):
            faces = [self.face_entry(i) for i in ids]
            if len(ids) >= min_faces:
                groups.append({"id": group, "name": self.groups[group].name, "label": self.label(group),
                               "faces": faces})
            else:
                unassigned += [face | {"reason": "alone"} for face in faces]
        unassigned += [self.face_entry(face.id) | {"reason": face.unassigned}
                       for face in self.faces if face.unassigned is not None]
        return {"groups": groups, "unassigned": unassigned}

    # ------------------------------------------------------------------ files

    def save(self, folder: str | os.PathLike) -> None:
        """people.json (everything but the embeddings) and embeddings.npy beside it (row k:
        face k), each written whole then renamed, so an interruption leaves the last state."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {"format": FORMAT, "model": self.model, "threshold": self.threshold,
                 "far_thresholds": self.far_thresholds, "false_link_rate": self.false_link_rate,
                 "one_person_per_photo": self.one_person_per_photo, "small_group": self.small_group,
                 "min_face_size": self.min_face_size,
                 "min_confidence": self.min_confidence, "next_group": self.next_group,
                 "groups": [asdict(group) for group in self.groups.values()],
                 "faces": [asdict(face) for face in self.faces], "apart": sorted(self.apart),
                 "photos": self.photos}
        with open(folder / (VECTORS_FILE + ".tmp"), "wb") as handle:
            np.save(handle, self.vectors)
        (folder / (STATE_FILE + ".tmp")).write_text(json.dumps(state, indent=1))
        os.replace(folder / (VECTORS_FILE + ".tmp"), folder / VECTORS_FILE)
        os.replace(folder / (STATE_FILE + ".tmp"), folder / STATE_FILE)

    @classmethod
    def load(cls, folder: str | os.PathLike) -> PeopleIndex:
        folder = Path(folder)
        state = json.loads((folder / STATE_FILE).read_text())
        if state.get("format") != FORMAT:
            raise PeopleError(f"{folder / STATE_FILE}: unknown format {state.get('format')!r}")
        index = cls(model=state["model"], threshold=state["threshold"], far_thresholds=state["far_thresholds"],
                    false_link_rate=state["false_link_rate"], one_person_per_photo=state["one_person_per_photo"],
                    small_group=int(state.get("small_group", DEFAULT_SMALL_GROUP)),
                    min_face_size=state["min_face_size"], min_confidence=state["min_confidence"],
                    faces=[Face(**face) for face in state["faces"]],
                    groups={group["id"]: Group(**group) for group in state["groups"]},
                    apart={(int(a), int(b)) for a, b in state["apart"]}, photos=dict(state["photos"]),
                    next_group=int(state["next_group"]), stored=np.load(folder / VECTORS_FILE))
        if len(index.vectors) != len(index.faces):
            raise PeopleError(f"{folder}: {len(index.faces)} faces but {len(index.vectors)} embeddings")
        return index

    @classmethod
    def open(cls, folder: str | os.PathLike, **settings) -> PeopleIndex:
        """The state in `folder`, or a new one with `settings` if there is none."""
        return cls.load(folder) if (Path(folder) / STATE_FILE).exists() else cls(**settings)


SEEN_AS_UNIX_TIME = 1e9  # seconds: a time past 2001 is a camera's clock, an earlier one a position in a clip


def datetime_of(t: float) -> str:
    """A Unix time as UTC, to the second: 2026-12-07T10:22:42Z."""
    import time

    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


@contextmanager
def state_lock(folder: str | os.PathLike, shared: bool = False, blocking: bool = True) -> Iterator[bool]:
    """Holds the state folder's lock file (flock: released if the process dies): exclusive
    around read-change-save, `shared` around a read (save replaces its two files one after the
    other). Yields whether it is held: with `blocking` False, False at once if another process
    holds it."""
    import fcntl  # POSIX only: imported when a lock is taken, so the rest works anywhere

    folder = Path(folder)
    if shared and not folder.is_dir():  # nothing to read, nothing to create
        yield True
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / LOCK_FILE, "a+b") as handle:
        try:
            fcntl.flock(handle, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | (0 if blocking else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def group_order(group: str) -> tuple[int, str]:
    """g2 before g10."""
    return (int(group[1:]), group) if group[1:].isdigit() else (10**12, group)
