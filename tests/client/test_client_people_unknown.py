"""Unknown faces collected from `video identify` and `watch` into a people state
(client/people/unknown.py): clips of coloured squares and watch_parts' stand-ins for the
service and the gallery (red is ada, enrolled; blue is a stranger), so the tracker, the
events and the grouping run for real without TorchServe."""
from __future__ import annotations

import threading

import numpy as np
import pytest

pytest.importorskip("trackers")
pytest.importorskip("av")

from watch_parts import ByColour, Square, SquareFaces, write_clip  # noqa: E402

from client.cameras.snapshots import SnapshotFolder  # noqa: E402
from client.cameras.sources import Camera  # noqa: E402
from client.cameras.watch import Watcher  # noqa: E402
from client.cli.main import main  # noqa: E402
from client.models import EmbeddingResult  # noqa: E402
from client.people.index import PeopleIndex, state_lock  # noqa: E402
from client.people.unknown import UnknownFaces  # noqa: E402
from client.video.frames import EVERY_FACE  # noqa: E402
from client.video.identify import identify_clip  # noqa: E402
from client.video.quality import FaceQuality  # noqa: E402
from client.video.tracking import Label, TrackedFace  # noqa: E402

FPS = 10
# the stranger twice, 1.5 s apart (two tracks: a track ends unseen for 1 s), ada meanwhile
VISITS = [Square(None, 0.2, 1.5, 180, 100), Square("ada", 0.5, 4.5, 40, 60), Square(None, 3.0, 4.5, 200, 120)]
SQUARES = {"quality": FaceQuality(min_sharpness=0), "embed": EVERY_FACE}
STRANGER, ADA = [0.0, 1.0], [1.0, 0.0]  # the stand-in's embeddings


@pytest.fixture(scope="module")
def visits(tmp_path_factory):
    return write_clip(tmp_path_factory.mktemp("unknown") / "visits.mp4", VISITS, 5.0)


def identify(path, collect):
    return identify_clip(path, SquareFaces(), ByColour(), fps=FPS, collect=collect, **SQUARES)


def test_an_unknown_person_in_two_tracks_is_one_group_and_known_people_are_not_collected(visits, tmp_path):
    collect = UnknownFaces(tmp_path / "people", faces_per_track=2)
    report = identify(visits, collect)
    unknown_tracks = {span.track for span in report.tracks if span.identity is None}
    assert len(unknown_tracks) == 2 and {span.identity for span in report.tracks} == {"ada", None}
    assert collect.collected == 2 and collect.added == 4  # 2 tracks, their 2 best look-ups each
    index = PeopleIndex.load(tmp_path / "people")
    assert index.model == "face-embed:squares" and index.threshold == pytest.approx(0.3)
    assert np.allclose(index.vectors, STRANGER)  # ada's faces were never collected
    found = index.summary()
    assert len(found["groups"]) == 1 and found["unassigned"] == []
    group = found["groups"][0]
    assert group["name"] is None and group["label"] == f"Unknown person {group['id'][1:]}"
    faces = group["faces"]
    assert {face["source"] for face in faces} == {str(visits)} and all(face["snapshot"] is None for face in faces)
    times = sorted(face["time"] for face in faces)
    assert times[0] < 1.5 and times[-1] >= 3.0  # from both visits
    assert all(face["box"][2] == pytest.approx(60, abs=3) for face in faces)
    assert faces[0]["photo"].startswith(f"{visits}@") and faces[0]["photo"].endswith("s")
    # one frame, one photo: no two faces share a frame key, and no photo is recorded
    assert len({face.sha256 for face in index.faces}) == 4 and index.photos == {}


def test_a_second_run_appends_and_keeps_ids_and_names(visits, tmp_path, capsys):
    folder = tmp_path / "people"
    collect = UnknownFaces(folder)
    identify(visits, collect)
    first = PeopleIndex.load(folder)
    (group,) = first.members()
    assert main(["people", "show", "--state", str(folder)]) == 0
    assert f"Unknown person {group[1:]}" in capsys.readouterr().out
    with state_lock(folder):  # the user names the group meanwhile (as `people name` does)
        named = PeopleIndex.load(folder)
        named.name(group, "Zoe")
        named.save(folder)
    identify(visits, collect)
    again = PeopleIndex.load(folder)
    assert len(again.faces) == 2 * len(first.faces)
    assert [(f.id, f.sha256, f.group) for f in again.faces[:len(first.faces)]] == [
        (f.id, f.sha256, f.group) for f in first.faces]
    assert set(again.members()) == {group} and again.label(group) == "Zoe" and again.groups[group].name == "Zoe"
    assert main(["people", "show", "--state", str(folder)]) == 0
    assert "Zoe" in capsys.readouterr().out


def test_a_watch_collects_with_its_snapshots_and_writes_at_close(visits, tmp_path):
    folder = tmp_path / "people"
    collect = UnknownFaces(folder, save_every_s=3600)
    crops = SnapshotFolder(tmp_path / "crops")
    Watcher([Camera("gate", str(visits))], SquareFaces, ByColour(), [], fps=FPS, frame_options=SQUARES,
            snapshots=crops, collect=collect).run(threading.Event())
    assert not (folder / "people.json").exists()  # not due yet: written at close
    assert collect.close() == collect.added > 0
    index = PeopleIndex.load(folder)
    assert np.allclose(index.vectors, STRANGER)
    assert {f.source for f in index.faces} == {"gate"} and len(index.members()) == 1
    snapshots = {f.snapshot for f in index.faces}
    assert len(snapshots) == 2 and all(path is not None and path.startswith(str(crops.folder))
                                       for path in snapshots)
    assert all(f.photo.startswith("gate@") for f in index.faces)


def face(track: int, name: str | None, embedding, height: float = 80.0) -> TrackedFace:
    return TrackedFace(track, (10.0 * track, 10.0, height, height), Label(True, name, 0.2), True, 0.95, embedding)


def served(collect: UnknownFaces) -> None:
    collect.served(EmbeddingResult(model="m", faces=[], threshold=0.3))


def test_two_unknown_tracks_seen_together_stay_two_people_and_the_best_looks_are_kept(tmp_path):
    collect = UnknownFaces(tmp_path, faces_per_track=2)
    served(collect)
    source = collect.source("door")
    for i in range(5):  # two look-alikes side by side, the first growing
        source.update(float(i), [face(1, None, STRANGER, 60.0 + 10 * i), face(2, None, STRANGER)])
    source.update(5.0, [face(2, None, STRANGER)], ended=[1])
    source.update(6.0, [face(3, "ada", ADA)], ended=[2])
    source.finish()
    assert collect.save() == 4
    index = PeopleIndex.load(tmp_path)
    assert [f.time for f in index.faces[:2]] == [4.0, 3.0]  # track 1's two largest looks, best first
    assert len(index.members()) == 2  # same embeddings, but seen together: set apart
    assert {(a, b) for a in (0, 1) for b in (2, 3)} <= index.apart


def test_a_locked_state_waits_for_the_next_write(tmp_path):
    collect = UnknownFaces(tmp_path, save_every_s=0)
    served(collect)
    source = collect.source("door")
    source.update(0.0, [face(1, None, STRANGER)])
    with state_lock(tmp_path):  # another process is changing the state
        source.finish()  # due, but not written: the faces stay pending
        assert not (tmp_path / "people.json").exists()
    assert collect.close() == 1 and len(PeopleIndex.load(tmp_path).faces) == 1


def test_collecting_needs_a_gallery_and_a_folder(visits, tmp_path):
    with pytest.raises(SystemExit, match="needs a gallery"):
        main(["video", "identify", str(visits), "--reference", str(visits), "--collect-unknown", str(tmp_path)])
    with pytest.raises(SystemExit, match="not a folder"):  # the clip taken for the option's value
        main(["video", "identify", "--collect-unknown", str(visits), str(visits)])
