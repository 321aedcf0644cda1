"""`face-verify video identify --collect-unknown` against the REAL server (tests/conftest.py's
TorchServe): scikit-image's cameraman, not enrolled, passes twice (two tracks) while the
enrolled astronaut stays; his faces become one "Unknown person N", `people name --gallery`
enrols him, and the next run names him and collects nothing."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

pytest.importorskip("trackers")
pytest.importorskip("av")

from bench import clips  # noqa: E402
from client import FaceClient  # noqa: E402
from client.people.index import PeopleIndex  # noqa: E402
from tests.conftest import REPO  # noqa: E402

pytestmark = pytest.mark.integration
VISITS = [(0.5, 2.5), (4.0, 6.0)]  # the cameraman's two passes: 1.5 s apart, so two tracks


def run_cli(server, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "client", *args, "--url", server.base_url,
                           "--key-file", str(server.workdir / "key_file.json")],
                          cwd=REPO, capture_output=True, text=True, timeout=600)


def test_an_unknown_person_seen_twice_becomes_one_group_to_name(torchserve_server, tmp_path):
    from client.gallery import Gallery

    astronaut, cameraman = clips.packaged_people()
    stranger = dataclasses.replace(cameraman, enrol=[])
    clip = clips.Clip([clips.Appearance(astronaut, 0.0, 6.5, [(10, 40), (110, 140), (60, 220)]),
                       *(clips.Appearance(stranger, start, end, [(400, 200), (340, 60)]) for start, end in VISITS)],
                      6.5, 25.0, clips.background())
    path = clips.write_mp4(clip, tmp_path / "visits.mp4")
    gallery, state = tmp_path / "gallery", tmp_path / "people"
    with FaceClient(torchserve_server.base_url, token=torchserve_server.token) as client, \
            Gallery(str(gallery), client=client) as opened:
        assert opened.enroll(astronaut.name, astronaut.enrol).enrolled

    def identify(out: str) -> list[dict]:
        done = run_cli(torchserve_server, "video", "identify", str(path), "--gallery", str(gallery), "--fps", "5",
                       "--json", str(tmp_path / out), "--collect-unknown", str(state))
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads((tmp_path / out).read_text())["clips"][0]["tracks"]

    tracks = identify("first.json")
    assert len({t["track"] for t in tracks if t["identity"] is None}) == 2
    index = PeopleIndex.load(state)
    assert len(index.faces) >= 2 and all(f.source == str(path) for f in index.faces)
    assert all(any(start <= f.time < end for start, end in VISITS) for f in index.faces)  # the astronaut: never
    assert {f.time < 3.0 for f in index.faces} == {True, False}  # both passes
    (group,) = index.members()
    assert index.label(group) == f"Unknown person {group[1:]}"

    done = run_cli(torchserve_server, "people", "name", group, "Bert", "--gallery", str(gallery), "--state", str(state))
    assert done.returncode == 0, done.stderr[-2000:]
    tracks = identify("second.json")
    assert {t["identity"] for t in tracks} == {astronaut.name, "Bert"}
    again = PeopleIndex.load(state)
    assert len(again.faces) == len(index.faces) and again.label(group) == "Bert"
