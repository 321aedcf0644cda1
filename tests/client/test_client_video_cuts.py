"""Identities follow the face, not the box, against the REAL server (tests/conftest.py's
TorchServe): clips where a stranger takes an enrolled person's place at the same spot (the
same scene, only the face changes) and where a hard cut shows another scene with someone
at that spot again (bench/clips.py's cut clips: scikit-image's photos, and LFW people when the
data is there). No name is carried across a cut, the stranger is never named, and each
known person's segment is found within 0.5 s."""
from __future__ import annotations

import pytest

pytest.importorskip("trackers")
pytest.importorskip("av")

from bench import clips  # noqa: E402
from client import FaceClient  # noqa: E402
from client.video.identify import identify_clip  # noqa: E402
from tests.conftest import DATA_DIR, needs_data  # noqa: E402

pytestmark = pytest.mark.integration
TOLERANCE_S = 0.5
FPS = 10


@pytest.fixture()
def client(torchserve_server):
    with FaceClient(torchserve_server.base_url, token=torchserve_server.token) as client:
        yield client


def identified(clip: clips.Clip, client, tmp_path):
    """The clip's report, and every name shown on a sampled frame where that person was not there."""
    from client.gallery import Gallery

    wrong = []

    def check(t: float, frame, result) -> None:
        present = clip.present(t)
        for face in result.faces:
            if face.label.agreed and face.label.name is not None and face.label.name not in present:
                wrong.append((round(t, 2), face.track, face.label.name, present))

    video = clips.write_mp4(clip, tmp_path / "cut.mp4")
    with Gallery(str(tmp_path / "gallery"), client=client) as gallery:
        for person in clip.people:
            if person.enrol:
                assert gallery.enroll(person.name, person.enrol).enrolled
        report = identify_clip(video, client, gallery, fps=FPS, on_frame=check)
    assert report.error is None
    return report, wrong


def check_segments(report, clip: clips.Clip) -> None:
    rows = clips.matched_tracks([t.model_dump() for t in report.tracks], clip)
    assert not [r for r in rows if "extra" in r], f"segments matching nobody: {rows}"
    for row in rows:
        assert row["identity_ok"], row
        assert row["start_error_s"] <= TOLERANCE_S and row["end_error_s"] <= TOLERANCE_S, row


def test_a_stranger_in_a_known_persons_place_and_a_hard_cut(client, tmp_path):
    clip = clips.packaged_cut_clip()
    report, wrong = identified(clip, client, tmp_path)
    assert wrong == []  # the astronaut's name never shown on the stranger, before or after the cut
    check_segments(report, clip)
    assert report.scene_cuts == 1 and report.track_splits >= 1
    named = [t for t in report.tracks if t.identity == clips.ASTRONAUT]
    assert len(named) == 2 and named[0].track != named[1].track  # the cut ended the first track
    assert named[0].end_s < 3.0 <= 5.5 <= named[1].start_s


@needs_data
def test_lfw_people_swapped_and_cut(client, tmp_path):
    clip = clips.lfw_cut_clip(DATA_DIR)
    report, wrong = identified(clip, client, tmp_path)
    assert wrong == []
    check_segments(report, clip)
    assert report.scene_cuts == 1 and report.track_splits >= 1
