"""Bulk enrolment (`gallery enroll-all`) against the REAL service and the REAL embedded store:
resume by content, refusals in the JSON summary, and a run killed with SIGKILL halfway.
Skipped without Java (the `torchserve_server` fixture)."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from client import FaceClient
from client.cli import main as cli_main
from client.gallery import Gallery, PersonRefusal

pytestmark = pytest.mark.integration

skimage_data = pytest.importorskip("skimage.data")
REPO = Path(__file__).resolve().parents[2]
PEOPLE, PHOTOS_EACH = 20, 3


@pytest.fixture(scope="module")
def people(tmp_path_factory):
    """PEOPLE folders of PHOTOS_EACH distinct photos (the astronaut, cropped and scaled a little
    differently each time: other bytes, the same face), plus a cat (no face) in one folder and
    a text file named .jpg in another."""
    root = tmp_path_factory.mktemp("people")
    astronaut = Image.fromarray(skimage_data.astronaut())
    for person in range(PEOPLE):
        folder = root / f"person_{person:02d}"
        folder.mkdir()
        for photo in range(PHOTOS_EACH):
            shift = 4 * (person * PHOTOS_EACH + photo)
            astronaut.crop((shift % 40, 0, 512 - shift % 37, 512)).resize((300, 300)).save(folder / f"{photo}.jpg")
    Image.fromarray(skimage_data.chelsea()).save(root / "person_00" / "cat.jpg")
    (root / "person_01" / "notes.jpg").write_text("not a photo at all")
    return root


def server_args(server, gallery: Path, summary: Path) -> list[str]:
    return ["--url", server.base_url, "--token", server.token, "--gallery", str(gallery),
            "--summary", str(summary), "--batch", "4", "--workers", "2", "--per-request", "3"]


def stored_photos(gallery: Path) -> list[tuple[str, str]]:
    with Gallery(gallery) as opened:
        return [(p.name, photo) for p in opened.people() for photo in p.photos]


def test_enroll_all_resumes_by_content(torchserve_server, people, tmp_path, capsys):
    gallery, summary = tmp_path / "gallery", tmp_path / "summary.json"
    args = ["gallery", "enroll-all", str(people), *server_args(torchserve_server, gallery, summary)]
    assert cli_main(args) == 5  # the cat is refused, the others enrolled
    first = json.loads(summary.read_text())
    assert first["enrolled"] == PEOPLE * PHOTOS_EACH and first["skipped"] == 0 and first["people"] == PEOPLE
    refused = sorted((Path(r["photo"]).name, r["code"], r["reason"]) for r in first["refused"])
    assert [r[:2] for r in refused] == [("cat.jpg", "no_face"), ("notes.jpg", "not_an_image")]
    assert not refused[1][2].startswith(("photos[", "image"))  # the reason, without request field names
    assert cli_main(args) == 5
    again = json.loads(summary.read_text())
    assert again["enrolled"] == 0 and again["skipped"] == PEOPLE * PHOTOS_EACH
    photo = people / "person_03" / "1.jpg"  # new content under the same name: embedded again, replaced
    photo.write_bytes((people / "person_03" / "2.jpg").read_bytes())
    assert cli_main(args) == 5
    assert json.loads(summary.read_text())["enrolled"] == 1
    assert len(stored_photos(gallery)) == PEOPLE * PHOTOS_EACH
    assert "photos/s" in capsys.readouterr().out


def test_enroll_folder_reports_progress_and_typed_refusals(torchserve_server, people, tmp_path):
    seen: list[tuple[int, int]] = []
    with FaceClient(torchserve_server.base_url, token=torchserve_server.token, timeout=120) as client, \
            Gallery(tmp_path / "gallery", client) as gallery:
        summary = gallery.enroll_folder(people, batch=16, per_request=4, workers=2,
                                        progress=lambda done, total: seen.append((done, total)))
        assert gallery.count() == PEOPLE
    total = PEOPLE * PHOTOS_EACH + 2
    assert seen == [(0, total), *((min(done, total), total) for done in range(16, total + 16, 16))]
    assert summary.enrolled == PEOPLE * PHOTOS_EACH and summary.people == PEOPLE
    assert all(isinstance(refusal, PersonRefusal) for refusal in summary.refused)
    assert sorted((r.person, Path(r.photo).name, r.code) for r in summary.refused) == [
        ("person_00", "cat.jpg", "no_face"), ("person_01", "notes.jpg", "not_an_image")]


def test_a_run_killed_halfway_resumes_to_the_exact_count(torchserve_server, people, tmp_path):
    gallery, summary = tmp_path / "gallery", tmp_path / "summary.json"
    command = [sys.executable, "-m", "client", "gallery", "enroll-all", str(people),
               *server_args(torchserve_server, gallery, summary)]
    total = PEOPLE * PHOTOS_EACH + 2
    run = subprocess.Popen(command, cwd=REPO, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                           env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen, done = b"", 0
    try:
        while done < total // 3:  # the progress bar: "12/61 [..."
            chunk = os.read(run.stderr.fileno(), 256)
            assert chunk, f"enroll-all ended before it was killed: {seen[-500:]!r}"
            seen += chunk
            counts = re.findall(rb"(\d+)/%d \[" % total, seen)
            done = int(counts[-1]) if counts else 0
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    assert done < total, "killed too late to test anything"
    halfway = stored_photos(gallery)  # reopens with no error
    assert len(halfway) == len(set(halfway)) and done - 2 <= len(halfway) < total - 2  # done counts the refused

    assert subprocess.run(command, cwd=REPO, capture_output=True).returncode == 5  # the refused again
    second = json.loads(summary.read_text())
    assert second["skipped"] == len(halfway)
    assert second["skipped"] + second["enrolled"] == PEOPLE * PHOTOS_EACH
    final = stored_photos(gallery)
    assert len(final) == len(set(final)) == PEOPLE * PHOTOS_EACH
