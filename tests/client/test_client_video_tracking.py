"""The face tracker's rules on scripted frames (no server): one track per moving face, names
shown once the votes agree, look-ups every few frames or when the box changes a lot, the
timeline of a clip."""
from __future__ import annotations

import pytest

pytest.importorskip("trackers")

from client.models import EmbeddedFace, EmbeddingResult  # noqa: E402
from client.video.identities import Look  # noqa: E402
from client.video.timeline import Timeline  # noqa: E402
from client.video.tracking import AGREE, REID_EVERY, FaceTracker  # noqa: E402


class Scripted:
    """Names a face by its embedding's first value (an index into `people`); `wrong`: the
    look-up numbers (0-based, counted over all faces) answered with 'impostor' instead."""

    unknown = "unknown"

    def __init__(self, people: list[str | None], wrong: set[int] = frozenset()) -> None:
        self.people, self.wrong, self.calls = people, set(wrong), 0

    def names(self, answer: EmbeddingResult) -> list[Look]:
        looks = []
        for face in answer.faces:
            name = "impostor" if self.calls in self.wrong else self.people[int(face.embedding[0])]
            looks.append(Look(name, 0.9 if name else 0.1))
            self.calls += 1
        return looks


def answer(*faces: tuple[int, tuple[float, float, float, float]]) -> EmbeddingResult:
    return EmbeddingResult(model="face-embed:test", threshold=0.3, faces=[
        EmbeddedFace(box=box, confidence=0.95, embedding=[float(person), 0.0]) for person, box in faces])


def walk(frames: int, x0: float = 50, step: float = 4, y: float = 100, size: float = 80):
    return [(x0 + step * i, y, size, size) for i in range(frames)]


def test_a_moving_face_keeps_one_track_and_its_name_once_votes_agree():
    tracker = FaceTracker(Scripted(["ada"]), fps=10)
    shown = [tracker.update(answer((0, box)))[0] for box in walk(20)]
    assert {face.track for face in shown} == {1}
    assert not shown[0].label.agreed and shown[0].label.name is None  # one vote: pending
    assert all(face.label.agreed and face.label.name == "ada" for face in shown[AGREE - 1:])
    # Looked up on each frame until agreed, then every REID_EVERY frames.
    looked = [i for i, face in enumerate(shown) if face.looked_up]
    assert looked[:AGREE] == list(range(AGREE))
    assert all(b - a == REID_EVERY for a, b in zip(looked[AGREE - 1:], looked[AGREE:], strict=False))
    assert tracker.lookups == len(looked) < len(shown) / 2


def test_one_wrong_look_up_does_not_flip_the_label():
    tracker = FaceTracker(Scripted(["ada"], wrong={3}), fps=10)
    shown = [tracker.update(answer((0, box)))[0] for box in walk(30)]
    assert all(face.label.name == "ada" for face in shown[AGREE - 1:])


def test_a_box_that_grows_a_lot_is_looked_up_at_once():
    tracker = FaceTracker(Scripted(["ada"]), fps=10)
    for box in walk(3):
        tracker.update(answer((0, box)))
    x, y, w, h = walk(4)[-1]
    grown = tracker.update(answer((0, (x - 30, y - 30, w + 60, h + 60))))[0]  # IoU with the last look < 0.5
    assert grown.track == 1 and grown.looked_up


def test_two_people_and_a_stranger_get_their_own_tracks():
    tracker = FaceTracker(Scripted(["ada", "bob", None]), fps=10)
    for a, b, c in zip(walk(10), walk(10, x0=300), walk(10, x0=500, step=-3, y=300), strict=False):
        faces = tracker.update(answer((0, a), (1, b), (2, c)))
    assert [f.track for f in faces] == [1, 2, 3]
    assert [f.label.name for f in faces] == ["ada", "bob", None] and all(f.label.agreed for f in faces)


def test_without_tracking_every_face_is_looked_up_on_every_frame():
    tracker = FaceTracker(Scripted(["ada", "bob"]), fps=10, tracking=False)
    for a, b in zip(walk(12), walk(12, x0=300), strict=False):
        faces = tracker.update(answer((0, a), (1, b)))
    assert tracker.lookups == 24 and all(f.looked_up and f.label.agreed for f in faces)


def test_the_timeline_has_each_track_from_first_to_last_frame():
    tracker = FaceTracker(Scripted(["ada", "bob"]), fps=10)
    timeline = Timeline()
    for i, box in enumerate(walk(30)):
        faces = [(0, box)] + ([(1, (400 - 2 * i, 200, 90, 90))] if 10 <= i < 25 else [])
        timeline.add(i / 10, tracker.update(answer(*faces)))
    for _ in range(15):  # nobody: the tracks end
        timeline.add(3.0, tracker.update(answer()))
    tracks = timeline.tracks(tracker)
    assert [(t["identity"], t["start_s"], t["end_s"], t["frames"]) for t in tracks] == [
        ("ada", 0.0, 2.9, 30), ("bob", 1.0, 2.4, 15)]
    assert tracks[0]["score"] == 0.9
