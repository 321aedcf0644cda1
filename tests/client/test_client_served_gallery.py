"""One served gallery for every client, on the session's real TorchServe (tests/conftest.py:
face-gallery loaded as config.properties says, its galleries in the server's temp folder).

(a) a person enrolled with the CLI (a subprocess) is found by the SDK's Gallery(), by the
    page's Identify and Live functions, by `video identify` of a clip and by a raw HTTP
    request, while the page's app object is alive;
(b) 8 clients at once (4 enrolling distinct photos, 4 identifying) for SOAK_S seconds
    ($SERVED_GALLERY_SOAK_S, default 60), the gallery's worker SIGKILLed once during it: no
    error reaches a caller (the SDK retries while TorchServe restarts the worker) and every
    acknowledged enrolment is there afterwards;
(c) `gallery enroll-all` through the service resumes by content, `gallery push FOLDER` moves a
    folder's people into the served gallery and `gallery import` an exported file; another
    model version's embeddings are refused.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import requests

from client import FaceClient
from client.gallery import Gallery, collection_for
from tests.conftest import REPO

pytestmark = pytest.mark.integration

SOAK_S = float(os.environ.get("SERVED_GALLERY_SOAK_S", "60"))
ASTRONAUT = "Eileen Collins"  # bench.clips' name for scikit-image's astronaut
MODEL = "face-gallery"
RESTART_S = 240  # a worker restart on 2 busy cores


@pytest.fixture(scope="module")
def server(torchserve_server):
    if MODEL not in torchserve_server.models:
        pytest.skip(f"config.properties does not load {MODEL}")
    return torchserve_server


@pytest.fixture(scope="module")
def images() -> dict[str, np.ndarray]:
    from skimage import data

    astronaut = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    shifted = np.full((700, 800, 3), (90, 120, 140), np.uint8)
    shifted[120:632, 230:742] = astronaut
    return {"astronaut": astronaut, "shifted": shifted, "cameraman": cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2BGR)}


@pytest.fixture(scope="module")
def photos(images, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("served-photos")
    for name, image in images.items():
        cv2.imwrite(str(folder / f"{name}.jpg"), image)
    return {name: folder / f"{name}.jpg" for name in images}


@pytest.fixture(autouse=True)
def _no_gallery_env(monkeypatch):
    monkeypatch.delenv("FACE_GALLERY", raising=False)  # the default must be the served gallery


def cli(server, *args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "FACE_GALLERY"}
    return subprocess.run([sys.executable, "-m", "client", *args, "--url", server.base_url,
                           "--key-file", str(server.workdir / "key_file.json")],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def gallery_worker(server) -> dict | None:
    workers = server.describe(MODEL)["workers"]
    return next((worker for worker in workers if worker["status"] == "READY"), None)


# ---------------------------------------------------------------- (a) every client, one gallery


def test_one_gallery_for_the_cli_the_sdk_the_page_video_and_raw_http(server, photos, tmp_path):
    from ui.app import build_app

    with FaceClient(server.base_url, token=server.token) as client:
        page = build_app(client, None)  # the page, its Identify and Live tabs on the served gallery
        page_identify = next(f.fn for f in page.fns.values() if f.api_name == "identify")

        enrolled = cli(server, "gallery", "enroll", ASTRONAUT, str(photos["astronaut"]))
        assert enrolled.returncode == 0, enrolled.stderr
        assert f"{ASTRONAUT}: enrolled 1 photo(s)" in enrolled.stdout

        with Gallery(client=client) as gallery:  # the SDK's default
            assert gallery.served and gallery.location.endswith("(gallery default)")
            assert gallery.identify(photos["shifted"]).identities == [ASTRONAUT]
            assert ASTRONAUT in [person.name for person in gallery.people()]

        _, rows, summary = page_identify(str(photos["shifted"]))
        assert [row[1] for row in rows] == [ASTRONAUT], summary
        live_frame = next((f.fn for f in page.fns.values() if f.api_name == "live_frame"), None)
        if live_frame is not None:  # the Live tab (the video extra): a name once the tracker's look-ups agree
            from ui.live_tab import GALLERY

            frame = cv2.cvtColor(cv2.imread(str(photos["shifted"])), cv2.COLOR_BGR2RGB)
            shown = [live_frame(frame, GALLERY, None) for _ in range(6)]
            assert ASTRONAUT in shown[-1], shown[-1][-300:]

        raw = requests.post(f"{server.base_url}/predictions/{MODEL}", headers=server.auth, timeout=120,
                            files={"action": (None, "identify"),
                                   "image": ("party.jpg", photos["shifted"].read_bytes(), "image/jpeg")})
        assert raw.status_code == 200, raw.text
        assert [face["identity"] for face in raw.json()["faces"]] == [ASTRONAUT]

        listed = cli(server, "gallery", "list", "--json")
        assert listed.returncode == 0 and ASTRONAUT in [p["name"] for p in json.loads(listed.stdout)["people"]]

        pytest.importorskip("trackers")
        pytest.importorskip("av")
        from bench import clips

        clip = clips.write_mp4(clips.packaged_clip(), tmp_path / "clip.mp4")  # the astronaut, then the cameraman
        done = cli(server, "video", "identify", str(clip), "--fps", "4", "--json", str(tmp_path / "video.json"))
        assert done.returncode == 0, done.stderr
        report = json.loads((tmp_path / "video.json").read_text())
        assert report["settings"]["gallery"].endswith("(gallery default)")
        named = {track["identity"] for track in report["clips"][0]["tracks"] if track["frames"] >= 2}
        assert ASTRONAUT in named and named <= {ASTRONAUT, None}  # the cameraman was never enrolled
        page.close()


# ---------------------------------------------------------------- (b) at once, through a killed worker


def variant(image: np.ndarray, worker: int, index: int) -> bytes:
    """A photo of the same face whose content no other worker or index sends."""
    scale = (0.8, 1.0, 1.2)[index % 3]
    photo = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    photo[:4, :4] = (worker * 61 + index * 7) % 256, index % 256, (index // 256) % 256
    return cv2.imencode(".jpg", photo, [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()


def test_eight_clients_ride_over_a_killed_gallery_worker(server, images):
    name = "busy"
    with FaceClient(server.base_url, token=server.token) as client, Gallery(client=client, name=name) as gallery:
        assert gallery.enroll("anchor", images["cameraman"]).enrolled
    stop = threading.Event()
    acknowledged: dict[str, list[str]] = {}
    after_kill: list[str] = []
    errors: list[str] = []
    wrong: list[list] = []
    killed: dict[str, int] = {}
    lock = threading.Lock()

    def enroller(worker: int) -> None:
        with FaceClient(server.base_url, token=server.token) as own, Gallery(client=own, name=name) as served:
            index = 0
            while not stop.is_set():
                person = f"enroller{worker}-{index}"
                try:
                    done = served.enroll(person, variant(images["astronaut"], worker, index))
                except Exception as exc:  # noqa: BLE001  (every error is the test's finding)
                    with lock:
                        errors.append(f"enrol {person}: {exc!r}")
                    continue
                with lock:
                    if done.enrolled:
                        acknowledged[person] = done.enrolled
                        if killed:
                            after_kill.append(person)
                    else:
                        errors.append(f"enrol {person}: refused {done.refused}")
                index += 1

    def identifier() -> None:
        photo = cv2.imencode(".jpg", images["cameraman"])[1].tobytes()
        with FaceClient(server.base_url, token=server.token) as own, Gallery(client=own, name=name) as served:
            while not stop.is_set():
                try:
                    found = served.identify(photo).identities
                except Exception as exc:  # noqa: BLE001
                    with lock:
                        errors.append(f"identify: {exc!r}")
                    continue
                if found != ["anchor"]:
                    with lock:
                        wrong.append(found)

    threads = [threading.Thread(target=enroller, args=(w,)) for w in range(4)]
    threads += [threading.Thread(target=identifier) for _ in range(4)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    try:
        time.sleep(SOAK_S / 3)
        before = gallery_worker(server)
        assert before is not None
        with lock:
            killed["pid"] = int(before["pid"])
        os.kill(killed["pid"], signal.SIGKILL)  # mid-request, no chance to flush or close anything
        deadline = time.monotonic() + RESTART_S
        while (after := gallery_worker(server)) is None or int(after["pid"]) == killed["pid"]:
            assert time.monotonic() < deadline, f"{MODEL} did not come back:\n{server.log_tail(30)}"
            time.sleep(0.5)
        time.sleep(max(0.0, SOAK_S - (time.monotonic() - started)))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=RESTART_S)
    print(f"\n{len(acknowledged)} enrolments acknowledged ({len(after_kill)} after the kill), "
          f"{len(errors)} errors, worker {killed['pid']} -> {after['pid']}")
    assert not errors, errors[:5]
    assert not wrong, wrong[:5]
    assert len(acknowledged) >= 8 and after_kill, (len(acknowledged), len(after_kill))

    with FaceClient(server.base_url, token=server.token) as client, Gallery(client=client, name=name) as gallery:
        kept = {person.name: person.photos for person in gallery.people()}
        assert gallery.count() == len(acknowledged) + 1
    lost = [person for person, enrolled in acknowledged.items() if kept.get(person) != sorted(enrolled)]
    assert not lost, f"{len(lost)} acknowledged enrolments lost, e.g. {lost[:3]}"


# ---------------------------------------------------------------- (c) a folder through the service


def test_enroll_all_resumes_by_content_and_push_moves_a_folder_in(server, images, tmp_path):
    people = tmp_path / "people"
    for person, image in (("Astronaut", images["astronaut"]), ("Cameraman", images["cameraman"])):
        (people / person).mkdir(parents=True)
        for index in range(3):
            (people / person / f"{index}.jpg").write_bytes(variant(image, 9, index))
    summary = tmp_path / "summary.json"
    first = cli(server, "gallery", "enroll-all", str(people), "--gallery-name", "bulk", "--summary", str(summary))
    assert first.returncode == 0, first.stderr
    assert json.loads(summary.read_text())["enrolled"] == 6
    cv2.imwrite(str(people / "Astronaut" / "1.jpg"), images["astronaut"])  # one photo's content changed
    again = cli(server, "gallery", "enroll-all", str(people), "--gallery-name", "bulk", "--summary", str(summary))
    assert again.returncode == 0, again.stderr
    counts = json.loads(summary.read_text())
    assert (counts["enrolled"], counts["skipped"]) == (1, 5)

    folder = tmp_path / "offline"
    with FaceClient(server.base_url, token=server.token) as client:
        with Gallery(folder, client=client) as offline:
            assert offline.enroll("Offline Cameraman", images["cameraman"]).enrolled
        pushed = cli(server, "gallery", "push", str(folder), "--gallery-name", "bulk")
        assert pushed.returncode == 0, pushed.stderr
        with Gallery(client=client, name="bulk") as served:
            kept = {person.name: person.photos for person in served.people()}
            assert kept["Offline Cameraman"] == ["photo_1"] and sorted(kept["Astronaut"]) == ["0.jpg", "1.jpg", "2.jpg"]
            assert served.count() == 3
            found = served.identify(images["cameraman"], top_k=3)
            assert {c.name for c in found.faces[0].candidates} >= {"Cameraman", "Offline Cameraman"}

        exported = tmp_path / "offline.jsonl.gz"
        assert cli(server, "gallery", "export", str(exported), "--gallery", str(folder)).returncode == 0
        imported = cli(server, "gallery", "import", str(exported), "--gallery-name", "imported")
        assert imported.returncode == 0 and "imported 1 embedding(s)" in imported.stdout, imported.stderr
        with Gallery(client=client, name="imported") as served:
            assert [person.name for person in served.people()] == ["Offline Cameraman"]

        with Gallery(folder, client=client) as offline:  # someone enrolled with other weights
            old = collection_for("face-embed:old")
            offline.store.ensure(old, 2)
            offline.store.add(old, "Old Timer", "face-embed:old", ["old.jpg"], [[0.6, 0.8]])
        refused = cli(server, "gallery", "push", str(folder), "--gallery-name", "imported")
        assert refused.returncode != 0 and "model_mismatch" in refused.stderr, refused.stderr
        with Gallery(client=client, name="imported") as served:
            assert "Old Timer" not in [person.name for person in served.people()]
