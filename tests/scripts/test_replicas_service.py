"""Two real TorchServe replicas behind a real nginx (what `make serve REPLICAS=2` starts):
one service key at the front, the state file, spreading, and a replica killed under load."""
from __future__ import annotations

import json
import re
import subprocess

import psutil
import pytest
import requests
from replica_support import REPO

from bench.failover import front_log, run
from bench.photos import skimage_set
from client import AuthenticationError, FaceClient, read_key_file

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def photos():
    return skimage_set(tests=3)


def state_of(service) -> dict:
    return json.loads((service["state_dir"] / "replicas.json").read_text())


def test_state_file_lists_replicas_with_ports_pids_and_health(replica_service):
    state = state_of(replica_service)
    assert state["front"]["url"] == replica_service["front"]
    assert len(state["replicas"]) == 2
    ports = {replica["inference"] for replica in state["replicas"]}
    assert len(ports) == 2 and all(p.startswith("http://127.0.0.1:") for p in ports)
    for replica in state["replicas"]:
        assert replica["health"] == "healthy"
        assert any("org.pytorch.serve.ModelServer" in part for part in psutil.Process(replica["pid"]).cmdline())
    assert psutil.pid_exists(state["supervisor"]["pid"])
    assert "service_key" not in subprocess.run(  # status shows everything but the key
        [*replica_service["cli"], "status", *replica_service["options"]], cwd=REPO, capture_output=True,
        text=True, check=True).stdout


def test_front_takes_the_one_service_key_and_nothing_else(replica_service):
    front, key_file = replica_service["front"], replica_service["key_file"]
    key = read_key_file(key_file)
    assert requests.get(f"{front}/ping", headers={"Authorization": f"Bearer {key}"}, timeout=10).status_code == 200
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": key}):
        refused = requests.get(f"{front}/ping", headers=headers, timeout=10)
        assert refused.status_code == 401 and refused.json()["type"] == "InvalidKeyException"
    with pytest.raises(AuthenticationError):
        FaceClient(front, token="wrong", retries=0).health()


def test_client_verifies_and_embeds_through_the_front_with_the_key_file(replica_service, photos):
    with FaceClient(replica_service["front"], key_file=replica_service["key_file"]) as client:
        result = client.verify(photos.reference, photos.tests)
        assert len(result.results) == 3 and result.results[0].error is None
        assert len(client.embed(photos.reference).faces) >= 1


def test_front_errors_are_json_through_real_replicas(replica_service):
    front, key = replica_service["front"], read_key_file(replica_service["key_file"])
    auth = {"Authorization": f"Bearer {key}"}
    too_large = requests.post(f"{front}/predictions/face-verify", headers=auth,
                              files={"reference": ("big.jpg", b"\xff" * (33 * 2**20))}, timeout=60)
    unknown = requests.get(f"{front}/no-such-route", headers=auth, timeout=10)
    no_key = requests.post(f"{front}/predictions/face-gallery", data={"action": "count"}, timeout=10)
    wrong_key = requests.post(f"{front}/predictions/face-verify", headers={"Authorization": "Bearer wrong"},
                              timeout=10)
    for answer, status in ((too_large, 413), (unknown, 404), (no_key, 401), (wrong_key, 401)):
        assert answer.status_code == status, answer.text
        assert answer.headers["Content-Type"] == "application/json"
        body = answer.json()
        assert body["code"] == status and body["type"] and body["message"], body


def _gallery(front: str, key: str, action: str, files: dict | None = None, **fields) -> requests.Response:
    return requests.post(f"{front}/predictions/face-gallery", headers={"Authorization": f"Bearer {key}"},
                         data={"action": action, **fields}, files=files, timeout=120)


def test_gallery_requests_reach_the_one_gallery_replica(replica_service, photos):
    """Only replica 1 loads face-gallery, and every gallery call through the front lands there:
    enrolments and look-ups alternate, so round robin over both replicas would have failed some."""
    front, key = replica_service["front"], read_key_file(replica_service["key_file"])
    state = state_of(replica_service)
    owner, other = state["replicas"]
    assert state["gallery_replica"] == owner["index"] == 1
    for entry, loaded in ((owner, True), (other, False)):
        management_key = read_key_file(f"{entry['dir']}/key_file.json", "management")
        described = requests.get(f"{entry['management']}/models/face-gallery", timeout=10,
                                 headers={"Authorization": f"Bearer {management_key}"})
        assert (described.status_code == 200) is loaded, described.text
    for round_ in range(4):
        enrolled = _gallery(front, key, "enroll", {"image_1": ("astronaut.jpg", photos.reference)},
                            gallery="replicas", name=f"Eileen {round_}")
        assert enrolled.status_code == 200, enrolled.text
        found = _gallery(front, key, "identify", {"image": ("scaled.jpg", photos.tests[1])}, gallery="replicas")
        assert found.status_code == 200, found.text
        (face,) = found.json()["faces"]
        assert face["identity"] is not None and face["identity"].startswith("Eileen"), face
    assert _gallery(front, key, "count", gallery="replicas").json()["people"] == 4
    lines = (replica_service["state_dir"] / "nginx" / "access.log").read_text().splitlines()
    answered = [re.search(r" upstream=(\S+) ", line).group(1) for line in lines
                if '"POST /predictions/face-gallery ' in line and '" 200 ' in line]
    assert len(answered) >= 9 and set(answered) == {owner["keyed"]}, answered
    assert (replica_service["gallery_root"] / "replicas").is_dir()


def test_replicas_keep_their_own_token_check(replica_service):
    """A local process that skips the front still needs a replica's own key."""
    key = read_key_file(replica_service["key_file"])
    for replica in state_of(replica_service)["replicas"]:
        answer = requests.get(f"{replica['inference']}/ping", headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert answer.status_code == 400 and answer.json()["type"] == "InvalidKeyException"


def test_front_spreads_requests_over_the_replicas(replica_service):
    state = state_of(replica_service)
    key = read_key_file(replica_service["key_file"])
    with requests.Session() as session:
        for _ in range(8):
            session.get(f"{replica_service['front']}/ping", headers={"Authorization": f"Bearer {key}"}, timeout=10)
    used = {entry["upstreams"][-1] for entry in front_log(replica_service["state_dir"] / "nginx" / "access.log", "")}
    assert used >= {replica["keyed"] for replica in state["replicas"]}


@pytest.mark.timeout(600)
def test_replica_killed_under_load_fails_no_client_request_and_comes_back(replica_service, photos):
    front, key = replica_service["front"], read_key_file(replica_service["key_file"])
    enrolled = _gallery(front, key, "enroll", {"image_1": ("camera.jpg", photos.tests[2])}, gallery="failover",
                        name="Before the kill")
    assert enrolled.status_code == 200, enrolled.text
    section = run(replica_service["front"], replica_service["key_file"], replica_service["state_dir"], photos,
                  clients=2, kills=1, settle=3.0, restart_timeout=300.0)
    print(json.dumps({k: section[k] for k in ("raw_failures", "client_failures", "front_resent", "kills")}))
    client = section["runs"]["client"]
    assert client["sent"] > 0 and client["errors"] == 0 and client["lost"] == 0, client
    kill = section["kills"][0]
    assert kill["back_after_s"] is not None, "the supervisor did not restart the replica"
    assert kill["takes_traffic_again"], kill
    assert state_of(replica_service)["replicas"][0]["restarts"] == 1
    # The killed replica was the galleries' owner: restarted with face-gallery, still the one
    # the front sends gallery calls to, and what it acknowledged before the kill is there.
    found = _gallery(front, key, "identify", {"image": ("camera.jpg", photos.tests[2])}, gallery="failover")
    assert found.status_code == 200, found.text
    assert [face["identity"] for face in found.json()["faces"]] == ["Before the kill"]
