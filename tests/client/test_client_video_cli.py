"""`face-verify video identify` on real clips against the REAL server (tests/conftest.py's
TorchServe): scikit-image's astronaut and cameraman entering and leaving over a cluttered
background, and LFW people with a stranger when the data is there. The timeline must match
the clip's ground truth within 0.5 s."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytest.importorskip("trackers")
pytest.importorskip("av")

from bench import clips  # noqa: E402
from client import FaceClient  # noqa: E402
from tests.conftest import DATA_DIR, REPO, needs_data  # noqa: E402

pytestmark = pytest.mark.integration
TOLERANCE_S = 0.5


def run_cli(server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "client", "video", "identify", *args, "--url", server.base_url,
                           "--key-file", str(server.workdir / "key_file.json")],
                          cwd=REPO, capture_output=True, text=True, timeout=600)


def enrolled_gallery(server, clip: clips.Clip, folder) -> str:
    from client.gallery import Gallery

    with FaceClient(server.base_url, token=server.token) as client, Gallery(str(folder), client=client) as gallery:
        for person in clip.people:
            if person.enrol:
                assert gallery.enroll(person.name, person.enrol).enrolled
    return str(folder)


def check_timeline(tracks: list[dict], clip: clips.Clip) -> None:
    rows = clips.matched_tracks(tracks, clip)
    assert not [r for r in rows if "extra" in r], f"tracks matching nobody: {rows}"
    for row in rows:
        assert row["identity_ok"], row
        assert row["start_error_s"] <= TOLERANCE_S and row["end_error_s"] <= TOLERANCE_S, row


@pytest.fixture(scope="module")
def packaged(tmp_path_factory, torchserve_server):
    folder = tmp_path_factory.mktemp("video")
    clip = clips.packaged_clip()
    gallery = enrolled_gallery(torchserve_server, clip, folder / "gallery")
    return clip, clips.write_mp4(clip, folder / "clip.mp4"), gallery


def test_gallery_timeline_matches_the_clip(packaged, torchserve_server, tmp_path):
    clip, path, gallery = packaged
    out = tmp_path / "annotated.mp4"
    done = run_cli(torchserve_server, str(path), "--gallery", gallery, "--json", str(tmp_path / "a.json"),
                   "--out", str(out), "--fps", "10")
    assert done.returncode == 0, done.stderr[-2000:]
    answer = json.loads((tmp_path / "a.json").read_text())
    entry = answer["clips"][0]
    assert answer["settings"]["fps"] == 10 and answer["settings"]["mode"] == "gallery"
    assert entry["error"] is None and entry["frames"] == 80 and entry["duration_s"] == pytest.approx(8.0, abs=0.1)
    assert entry["frames_per_s"] > 0 and entry["embeddings"] >= entry["lookups"] > 0
    check_timeline(entry["tracks"], clip)
    assert all(0 < t["score"] <= 1 for t in entry["tracks"] if t["identity"])

    import av

    with av.open(str(out)) as video:
        assert sum(1 for _ in video.decode(video=0)) == entry["frames"]


def test_reference_mode_and_an_unreadable_clip(packaged, torchserve_server, tmp_path):
    clip, path, _ = packaged
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video\n")
    reference = tmp_path / "astronaut.png"
    from PIL import Image

    Image.fromarray(clip.people[0].enrol[0]).save(reference)
    done = run_cli(torchserve_server, str(broken), str(path), "--reference", str(reference),
                   "--json", str(tmp_path / "r.json"))
    assert done.returncode == 5, done.stderr[-2000:]
    assert "broken.mp4" in done.stderr
    bad, good = json.loads((tmp_path / "r.json").read_text())["clips"]
    assert bad["error"]["code"] == "unreadable_video" and bad["tracks"] == []
    assert good["error"] is None
    found = {row["identity"]: row["found"] for row in clips.matched_tracks(good["tracks"], clip)}
    assert found == {clips.ASTRONAUT: "match", "cameraman": None}


@needs_data
def test_lfw_timeline_matches_the_clip(torchserve_server, tmp_path):
    clip = clips.lfw_clip(DATA_DIR)
    path = clips.write_mp4(clip, tmp_path / "lfw.mp4")
    gallery = enrolled_gallery(torchserve_server, clip, tmp_path / "gallery")
    done = run_cli(torchserve_server, str(path), "--gallery", gallery, "--json", str(tmp_path / "l.json"))
    assert done.returncode == 0, done.stderr[-2000:]
    entry = json.loads((tmp_path / "l.json").read_text())["clips"][0]
    check_timeline(entry["tracks"], clip)
    assert None in [t["identity"] for t in entry["tracks"]]  # the stranger is nobody enrolled
