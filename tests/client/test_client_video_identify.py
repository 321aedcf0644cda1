"""`identify_clip`, the SDK's call behind `video identify` and the stream bench, against the
REAL server (tests/conftest.py's TorchServe): the report of a clip, the per-frame hook, the
annotated copy, and an unreadable clip reported rather than raised."""
from __future__ import annotations

import pytest

pytest.importorskip("trackers")
av = pytest.importorskip("av")

from bench import clips  # noqa: E402
from client import FaceClient  # noqa: E402
from client.video.identify import ClipReport, identify_clip  # noqa: E402
from client.video.identities import ReferenceIdentifier  # noqa: E402

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def clip_file(tmp_path_factory):
    clip = clips.packaged_clip()
    return clip, clips.write_mp4(clip, tmp_path_factory.mktemp("identify") / "clip.mp4")


@pytest.fixture()
def client(torchserve_server):
    with FaceClient(torchserve_server.base_url, token=torchserve_server.token) as client:
        yield client


def test_a_gallery_clip_report_with_its_frames_and_annotated_copy(clip_file, client, tmp_path):
    from client.gallery import Gallery

    clip, path = clip_file
    seen = []
    with Gallery(str(tmp_path / "gallery"), client=client) as gallery:
        for person in clip.people:
            if person.enrol:
                gallery.enroll(person.name, person.enrol)
        report = identify_clip(path, client, gallery, fps=5, annotated=tmp_path / "out.mp4",
                               on_frame=lambda t, frame, result: seen.append((t, frame.shape, len(result.faces))))
    assert isinstance(report, ClipReport) and report.error is None
    assert report.frames == len(seen) == 40  # 8 s at 5 fps
    assert [t for t, _, _ in seen] == sorted(t for t, _, _ in seen)
    assert report.info is not None and seen[0][1] == (report.info.height, report.info.width, 3)
    assert report.duration_s == pytest.approx(8.0, abs=0.1) and report.real_time_factor > 0
    # only the faces due for a look-up are embedded (each looked-up face is one of them)
    assert 0 < report.lookups <= report.embeddings < sum(n for _, _, n in seen)
    named = {t.identity for t in report.tracks if t.frames >= 3}
    assert {p.name for p in clip.people if p.enrol} <= named
    assert all(t.start_s <= t.end_s for t in report.tracks)
    assert report.annotated == str(tmp_path / "out.mp4")
    with av.open(report.annotated) as written:
        assert sum(1 for _ in written.decode(video=0)) == report.frames
    entry = report.cli_entry()
    assert "info" not in entry and "annotated" not in entry and entry["tracks"][0].keys() == {
        "track", "identity", "start_s", "end_s", "score", "frames"}


def test_an_unreadable_clip_is_reported_not_raised(clip_file, client, tmp_path):
    clip, _ = clip_file
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video\n")
    from PIL import Image

    reference = tmp_path / "reference.png"
    Image.fromarray(clip.people[0].enrol[0]).save(reference)
    report = identify_clip(broken, client, ReferenceIdentifier(client, reference), fps=5,
                           annotated=tmp_path / "never.mp4")
    assert report.error is not None and report.error.code == "unreadable_video"
    assert "broken.mp4" in report.error.message
    assert report.frames == 0 and report.tracks == [] and report.annotated is None
    assert not (tmp_path / "never.mp4").exists()
    with pytest.raises(ValueError):
        identify_clip(broken, client, ReferenceIdentifier(client, reference), fps=0)
