"""The face tracker's rules on scripted frames (no server): one track per moving face, names
shown once the votes agree, look-ups every few frames or when the box changes a lot, a new
track when the face stops matching its track's person, every track ended by a scene cut,
votes weighted by face size and score, blurred faces not named, the timeline of a clip."""
from __future__ import annotations

import pytest

pytest.importorskip("trackers")

from client.models import EmbeddedFace, EmbeddingResult  # noqa: E402
from client.video.frames import EVERY_FACE, FrameIdentifier  # noqa: E402
from client.video.identities import Look  # noqa: E402
from client.video.quality import FaceQuality  # noqa: E402
from client.video.timeline import Timeline  # noqa: E402
from client.video.tracking import AGREE, PENDING, REID_EVERY, SWITCH_FRAMES, FaceTracker, Track, Vote  # noqa: E402


class Scripted:
    """Names a face by its embedding, a one-hot vector: the person's index into `people`;
    `wrong`: the look-up numbers (0-based, counted over all faces) answered with 'impostor'
    instead."""

    unknown = "unknown"

    def __init__(self, people: list[str | None], wrong: set[int] = frozenset()) -> None:
        self.people, self.wrong, self.calls = people, set(wrong), 0

    def names(self, answer: EmbeddingResult) -> list[Look]:
        looks = []
        for face in answer.faces:
            name = "impostor" if self.calls in self.wrong else self.people[face.embedding.index(1.0)]
            looks.append(Look(name, 0.9 if name else 0.1))
            self.calls += 1
        return looks


PEOPLE = 8  # the embeddings' size: one dimension per scripted person, so different people score 0


def one_hot(person: int) -> list[float]:
    return [1.0 if i == person else 0.0 for i in range(PEOPLE)]


def answer(*faces: tuple[int, tuple[float, float, float, float]]) -> EmbeddingResult:
    return EmbeddingResult(model="face-embed:test", threshold=0.3, faces=[
        EmbeddedFace(box=box, confidence=0.95, embedding=one_hot(person)) for person, box in faces])


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
    tracks = timeline.tracks()
    assert [(t["identity"], t["start_s"], t["end_s"], t["frames"]) for t in tracks] == [
        ("ada", 0.0, 2.9, 30), ("bob", 1.0, 2.4, 15)]
    assert tracks[0]["score"] == 0.9


def test_a_stranger_in_the_same_box_starts_a_new_track_and_is_never_named():
    tracker = FaceTracker(Scripted(["ada", None]), fps=10)
    timeline = Timeline()
    shown = []
    for i, box in enumerate(walk(30, step=1)):
        faces = tracker.update(answer((0 if i < 15 else 1, box)))  # at frame 15 the face is someone else's
        timeline.add(i / 10, faces)
        shown.append(faces[0])
    assert all(f.label.name == "ada" for f in shown[AGREE - 1:15])
    assert all(f.label.name is None for f in shown[15:])  # suspect (pending), then unknown: never ada
    assert shown[14].track == 1 and shown[-1].track == 2 and tracker.splits == 1
    assert all(f.track == 2 for f in shown[15 + SWITCH_FRAMES - 1:])
    segments = [(t["track"], t["identity"], t["start_s"], t["end_s"]) for t in timeline.tracks()]
    assert segments[0] == (1, "ada", 0.0, 1.4)
    assert segments[1][:2] == (2, None) and 1.5 <= segments[1][2] <= 1.5 + SWITCH_FRAMES / 10
    assert len(segments) == 2


def test_one_odd_embedding_does_not_split_the_track():
    tracker = FaceTracker(Scripted(["ada", "bob"]), fps=10)
    shown = [tracker.update(answer((1 if i == 8 else 0, box)))[0] for i, box in enumerate(walk(20))]
    assert {f.track for f in shown} == {1} and tracker.splits == 0
    assert shown[8].label == PENDING  # that frame's name is held back...
    assert all(f.label.name == "ada" for i, f in enumerate(shown[AGREE - 1:], AGREE - 1) if i != 8)  # ...only it


def test_end_all_cuts_every_track():
    tracker = FaceTracker(Scripted(["ada"]), fps=10)
    for box in walk(5):
        tracker.update(answer((0, box)))
    tracker.end_all()
    after = tracker.update(answer((0, walk(6)[-1])))[0]
    assert after.track == 2 and after.label == PENDING and tracker.ended == [1]


def test_a_large_clear_face_outweighs_small_ones():
    track = Track(1)
    for _ in range(3):
        track.vote(Vote("bob", 0.1, 0.35), (0, 0, 30, 30), None)
    for _ in range(2):
        track.vote(Vote("ada", 0.8, 0.8), (0, 0, 120, 120), None)
    assert track.label(AGREE).name == "ada"
    tracker = FaceTracker(Scripted(["ada"]), fps=10)
    small, large = (0, 0, 40, 40), (0, 0, 160, 160)
    assert tracker._weight(small, Look("ada", 0.6), 0.3) < tracker._weight(large, Look("ada", 0.6), 0.3)
    assert tracker._weight(large, Look(None, 0.1), 0.3) == pytest.approx(0.3)  # unknown: the threshold's weight


class ScriptedClient:
    """FaceClient.embed stand-in: the next scripted answer per frame."""

    def __init__(self, answers: list[EmbeddingResult]) -> None:
        self.answers = list(answers)

    def embed(self, frame) -> EmbeddingResult:
        return self.answers.pop(0)


def scene(name: str):
    import cv2
    from skimage import data

    return cv2.resize(getattr(data, name)()[..., :3], (320, 240))


def test_a_scene_cut_ends_the_tracks_and_no_name_crosses_it():
    frames = [scene("rocket")] * 6 + [scene("chelsea")] * 4
    boxes = walk(10, step=1)
    identifier = FrameIdentifier(ScriptedClient([answer((0, box)) for box in boxes]), Scripted(["ada"]), fps=10,
                                 quality=FaceQuality(min_sharpness=0), embed=EVERY_FACE)
    results = [identifier.process(frame) for frame in frames]
    assert [r.cut for r in results] == [False] * 6 + [True] + [False] * 3
    assert results[6].faces[0].track != results[5].faces[0].track and 1 in results[6].ended
    assert results[5].faces[0].label.name == "ada" and results[6].faces[0].label == PENDING


def test_blurred_faces_are_followed_but_not_looked_up():
    import cv2
    from skimage import data

    sharp = data.astronaut()
    box = (170.0, 40.0, 110.0, 140.0)
    quality = FaceQuality()
    assert quality.sharp_enough(sharp, box)
    assert not quality.sharp_enough(cv2.GaussianBlur(sharp, (0, 0), 8), box)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 8)
    identifier = FrameIdentifier(ScriptedClient([answer((0, box))] * 4), Scripted(["ada"]), fps=10,
                                 quality=quality, scene_cuts=None, embed=EVERY_FACE)
    faces = [identifier.process(blurred).faces[0] for _ in range(4)]
    assert identifier.tracker.lookups == 0 and all(f.label == PENDING and f.track == 1 for f in faces)
    assert not FaceQuality(min_face_px=40).big_enough((0, 0, 30, 30))


def test_boxes_only_frames_embed_the_due_faces_and_a_changed_look_at_once():
    """Frames with boxes only: embeddings are fetched for the faces due for a look-up, and at
    once for a face whose thumbnail changed (a stranger in ada's place on frame 12)."""
    import numpy as np

    looks = {0: np.array([1.0, 0.0]), 1: np.array([0.0, 1.0])}  # two unrelated thumbnails
    tracker = FaceTracker(Scripted(["ada", None]), fps=10)
    fetched: list[int] = []
    shown = []
    for i, box in enumerate(walk(24, step=1)):
        person = 0 if i < 12 else 1
        frame = EmbeddingResult(model="face-embed:test", threshold=0.3,
                                faces=[EmbeddedFace(box=box, confidence=0.95, embedding=[])])

        def fetch(indices: list[int], person: int = person, i: int = i) -> list[list[float] | None]:
            fetched.append(i)
            return [one_hot(person) for _ in indices]

        shown.append(tracker.update(frame, fetch=fetch, thumbnails=[looks[person]])[0])
    assert len(fetched) < 24 / 2  # not every frame: the due look-ups, and the changed look
    assert 12 in fetched and 13 in fetched  # the change is checked on the frame it happens, and confirmed
    assert all(f.label.name == "ada" for f in shown[AGREE - 1:12])
    assert all(f.label.name is None for f in shown[12:])  # never ada once someone else stands there
    assert shown[13].track == 2 and tracker.splits == 1


def test_ended_tracks_are_forgotten():
    """A camera watched for days: tracks unseen for lost_after_s end, and nothing of them is kept."""
    tracker = FaceTracker(Scripted(["ada", "bob"]), fps=10, lost_after_s=0.5)
    for a, b in zip(walk(5), walk(5, x0=300), strict=False):
        tracker.update(answer((0, a), (1, b)))
    ended = []
    for _ in range(8):
        tracker.update(answer())
        ended += tracker.ended
    assert sorted(ended) == [1, 2] and tracker.tracks == {} and tracker._numbers == {}
