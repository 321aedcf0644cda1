"""face-gallery on a real TorchServe: the archive `make archive` builds, config.properties' security
settings, the gallery root in a temp folder (FACE_GALLERY_ROOT). Enrol, identify, remove, list
and count over POST /predictions/face-gallery; two named galleries kept apart; client errors
as 4xx JSON; an acknowledged enrolment outlives a SIGKILLed worker.

Only face-gallery is loaded (one worker, ~10 s to start on 2 cores). Skipped without Java.
"""
from __future__ import annotations

import base64
import os
import signal
import time

import pytest
import requests

from scripts.torchserve import model_archives, read_config
from tests.conftest import (
    REPO,
    START_TIMEOUT,
    VENV_BIN,
    ServedForTests,
    build_archives,
    server_config,
    serving,
    skip_without_torchserve,
)

pytestmark = pytest.mark.integration

MODEL = "face-gallery"


class GalleryServer(ServedForTests):
    """face-gallery alone on a test TorchServe, spoken to as a client would."""

    def post(self, action: str, photos: dict[str, bytes] | None = None, **fields) -> requests.Response:
        """A multipart form: the text fields, then the photos as files."""
        parts = [(key, (None, str(value))) for key, value in {"action": action, **fields}.items()]
        parts += [(key, (f"{key}.jpg", data, "image/jpeg")) for key, data in (photos or {}).items()]
        return requests.post(f"{self.inference}/predictions/{MODEL}", files=parts, headers=self.auth, timeout=120)

    def post_json(self, body: object) -> requests.Response:
        return requests.post(f"{self.inference}/predictions/{MODEL}", json=body, headers=self.auth, timeout=120)

    def ready_worker(self) -> dict | None:
        """The READY worker, if there is one."""
        if self.key("management") is None:
            return None
        try:
            return next((w for w in self.describe(MODEL)["workers"] if w["status"] == "READY"), None)
        except (requests.RequestException, ValueError, KeyError, IndexError):
            return None


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    skip_without_torchserve()
    workdir = tmp_path_factory.mktemp("gallery-serve")
    store = workdir / "model_store"
    assert model_archives(read_config(REPO / "config.properties")).get(MODEL) == f"{MODEL}.mar", \
        "make serve loads face-gallery"
    build_archives(store, [MODEL])
    config = server_config(store, workdir / "config.properties", extra={"load_models": f"{MODEL}={MODEL}.mar"})
    yield from serving(GalleryServer(workdir, config, venv_bin=VENV_BIN, tmp_prefix="ts-gallery-"))


def faces_of(response: requests.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    return response.json()["faces"]


# ---------------------------------------------------------------- the served gallery


def test_one_worker_owns_the_galleries(server):
    described = server.describe(MODEL)
    assert (described["minWorkers"], described["maxWorkers"], len(described["workers"])) == (1, 1, 1)


def test_enrol_then_identify_with_a_false_match_rate(server, photo_bytes):
    enrolled = server.post("enroll", {"image_1": photo_bytes["scaled"], "image_2": photo_bytes["cat"]},
                           gallery="staff", name="Eileen")
    assert enrolled.status_code == 200, enrolled.text
    answer = enrolled.json()
    assert (answer["gallery"], answer["name"], answer["replaced"]) == ("staff", "Eileen", 0)
    assert answer["model"].startswith("face-embed:")  # the same embeddings, the same gallery as the CLI's
    assert [photo.split("-")[0] for photo in answer["enrolled"]] == ["image_1"]
    assert [(r["photo"].split("-")[0], r["code"]) for r in answer["refused"]] == [("image_2", "no_face")]

    (face,) = faces_of(server.post("identify", {"image": photo_bytes["shifted"]}, gallery="staff", top_k=2))
    assert face["identity"] == "Eileen" and face["score"] >= 0.8
    assert face["candidates"][0]["name"] == "Eileen" and len(face["candidates"]) == 1
    rate = face["false_match_rate"]
    assert rate is not None and 0 < rate <= 0.001 and face["false_match_odds"] == f"1 in {round(1 / rate):,}"
    assert len(face["box"]) == 4 and 0 < face["confidence"] <= 1


def test_a_stranger_is_unknown(server, photo_bytes):
    assert server.post("enroll", {"image_1": photo_bytes["astronaut"]}, gallery="staff", name="Eileen").ok
    (face,) = faces_of(server.post("identify", {"image": photo_bytes["cameraman"]}, gallery="staff"))
    assert face["identity"] is None
    assert face["score"] < 0.3 and face["false_match_rate"] is None  # weaker than the table's loosest row


def test_json_requests_and_two_galleries_kept_apart(server, photo_bytes):
    b64 = {name: base64.b64encode(data).decode() for name, data in photo_bytes.items()}
    enrolled = server.post_json({"action": "enroll", "gallery": "visitors", "name": "Cameraman",
                                 "images": [b64["cameraman"]]})
    assert enrolled.status_code == 200 and enrolled.json()["enrolled"], enrolled.text
    assert server.post("enroll", {"image": photo_bytes["astronaut"]}, gallery="staff", name="Eileen").ok

    visitors = server.post_json({"action": "people", "gallery": "visitors"}).json()["people"]
    staff = server.post_json({"action": "people", "gallery": "staff"}).json()["people"]
    assert [p["name"] for p in visitors] == ["Cameraman"] and "Cameraman" not in [p["name"] for p in staff]
    (face,) = faces_of(server.post_json({"action": "identify", "gallery": "visitors", "image": b64["astronaut"]}))
    assert face["identity"] is None and face["candidates"][0]["name"] == "Cameraman"
    (face,) = faces_of(server.post_json({"action": "identify", "gallery": "visitors", "image": b64["cameraman"]}))
    assert face["identity"] == "Cameraman"


def test_add_keeps_earlier_photos_and_replace_drops_them(server, photo_bytes):
    gallery = "replacing"
    assert server.post("enroll", {"image_1": photo_bytes["astronaut"]}, gallery=gallery, name="Eileen").ok
    added = server.post("enroll", {"image_1": photo_bytes["rotated"]}, gallery=gallery, name="Eileen", add="true")
    assert added.json()["replaced"] == 0
    assert server.post("count", gallery=gallery).json() == {"gallery": gallery, "people": 1, "faces": 2}
    replaced = server.post("enroll", {"image_1": photo_bytes["scaled"]}, gallery=gallery, name="Eileen")
    assert replaced.json()["replaced"] == 2
    (person,) = server.post("people", gallery=gallery).json()["people"]
    assert person["name"] == "Eileen" and person["photos"] == replaced.json()["enrolled"]


def test_remove_people_and_count(server, photo_bytes):
    gallery = "removing"
    for name, photo in (("Eileen", "astronaut"), ("Cameraman", "cameraman")):
        assert server.post("enroll", {"image_1": photo_bytes[photo]}, gallery=gallery, name=name).ok
    assert server.post("count", gallery=gallery).json() == {"gallery": gallery, "people": 2, "faces": 2}
    assert [p["name"] for p in server.post("people", gallery=gallery).json()["people"]] == ["Cameraman", "Eileen"]
    removed = server.post("remove", gallery=gallery, name="Eileen").json()
    assert removed == {"gallery": gallery, "name": "Eileen", "removed": 1}
    assert server.post("remove", gallery=gallery, name="Eileen").json()["removed"] == 0
    assert server.post("count", gallery=gallery).json()["people"] == 1
    (face,) = faces_of(server.post("identify", {"image": photo_bytes["astronaut"]}, gallery=gallery))
    assert face["identity"] is None and [c["name"] for c in face["candidates"]] == ["Cameraman"]


@pytest.mark.parametrize(("fields", "files", "status", "code"), [
    ({"action": "forget"}, {}, 400, "invalid_action"),
    ({"action": "count", "gallery": "../etc"}, {}, 400, "invalid_gallery"),
    ({"action": "count", "gallery": "never-enrolled"}, {}, 404, "unknown_gallery"),
    ({"action": "enroll"}, {"image_1": "astronaut"}, 400, "missing_name"),
    ({"action": "enroll", "name": " "}, {"image_1": "astronaut"}, 400, "bad_name"),
    ({"action": "enroll", "name": "Eileen"}, {}, 400, "missing_image"),
    ({"action": "enroll", "name": "Eileen", "add": "maybe"}, {"image_1": "astronaut"}, 400, "invalid_add"),
    ({"action": "identify"}, {"image": "notes"}, 400, "not_an_image"),
    ({"action": "identify"}, {"image": "bomb"}, 413, "image_too_large"),
    ({"action": "identify", "top_k": "0"}, {"image": "astronaut"}, 400, "invalid_top_k"),
    ({"action": "identify", "threshold": "2"}, {"image": "astronaut"}, 400, "invalid_threshold"),
    ({"action": "identify", "colour": "red"}, {"image": "astronaut"}, 400, "unknown_field"),
    ({"action": "people"}, {"image": "astronaut"}, 400, "unknown_field"),
])
def test_bad_requests_are_4xx_json(server, photo_bytes, bomb_png, fields, files, status, code):
    known = photo_bytes | {"bomb": bomb_png, "notes": b"not a photo\n"}
    fields = dict(fields)
    response = server.post(fields.pop("action"), {key: known[name] for key, name in files.items()}, **fields)
    assert (response.status_code, response.json()["error"]) == (status, code), response.text
    assert response.json()["message"]


def test_malformed_bodies_leave_the_worker_serving(server):
    headers = {"Authorization": f"Bearer {server.key('inference')}"}
    for body in (b"{not json", b"\x00\xff" * 100):
        response = requests.post(f"{server.inference}/predictions/{MODEL}", data=body, headers=headers, timeout=60)
        assert response.status_code == 400 and response.json()["error"] == "malformed_json", response.text
    assert server.post_json(["count"]).status_code == 400
    assert server.post_json({"action": "count"}).json()["gallery"] == "default"


def test_an_acknowledged_enrolment_survives_a_killed_worker(server, photo_bytes):
    gallery = "durable"
    assert server.post("enroll", {"image_1": photo_bytes["cameraman"]}, gallery=gallery, name="Cameraman").ok
    enrolled = server.post("enroll", {"image_1": photo_bytes["astronaut"]}, gallery=gallery, name="Eileen")
    assert enrolled.status_code == 200 and enrolled.json()["enrolled"]
    worker = server.ready_worker()
    assert worker is not None
    os.kill(int(worker["pid"]), signal.SIGKILL)  # no chance to flush or close anything
    deadline = time.monotonic() + START_TIMEOUT
    while (restarted := server.ready_worker()) is None or restarted["pid"] == worker["pid"]:
        assert time.monotonic() < deadline, f"face-gallery did not come back:\n{server.log_tail(40)}"
        time.sleep(0.5)
    assert [p["name"] for p in server.post("people", gallery=gallery).json()["people"]] == ["Cameraman", "Eileen"]
    (face,) = faces_of(server.post("identify", {"image": photo_bytes["shifted"]}, gallery=gallery))
    assert face["identity"] == "Eileen"
