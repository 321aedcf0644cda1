"""Hardening against the REAL server: the bad-input battery over HTTP, the security
settings as TorchServe 0.12 really applies them, a worker killed mid-request, a stopped and
restarted server. Uses the session's TorchServe (`torchserve_server`, tests/conftest.py); the
restart test starts a private one of its own. Skipped without Java.

What TorchServe 0.12 really does (asserted here, documented in docs/security.md):
* a missing/wrong token: 400 {"type": "InvalidKeyException"} (not 401), on inference and
  management alike; the inference key does not open the management API and vice versa;
* the token API (POST /token?type=inference|management on the management port) takes the
  "API" key of key_file.json - the management key is refused;
* the metrics API has no token (loopback only);
* enable_model_api=false: register (POST /models) and unregister (DELETE) are 405; scaling
  workers (PUT /models/<name>) is still allowed with the management key;
* a worker killed mid-request: that request gets 500 or 507 "Worker died." (which one
  depends on timing); requests waiting in the queue are answered by the restarted worker.
"""
from __future__ import annotations

import base64
import os
import re
import signal
import socket
import threading
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import requests

from tests.handler.photo_variants import (
    ORIENTATIONS,
    encode,
    jpeg_with_size,
    mode_variants,
    near,
    rgb_image,
    stored_with_orientation,
    tiny,
)

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
MODELS = ("face-verify", "face-embed")
WORKER_SCRIPT = "ts/model_service_worker.py"


@pytest.fixture(scope="module")
def server(torchserve_server):
    return torchserve_server


def workers(server) -> dict[str, list[dict]]:
    """model -> its workers as the management API describes them (id, pid, status)."""
    out = {}
    for model in MODELS:
        described = requests.get(f"{server.management}/models/{model}", headers=server.management_auth,
                                 timeout=10).json()
        out[model] = described[0]["workers"]
    return out


def worker_pids(server) -> dict[str, set[int]]:
    """Ready workers' pids, each checked to be a `ts/model_service_worker.py` python process
    whose parent is this server's Java frontend."""
    java = server.pid()
    pids = {}
    for model, listed in workers(server).items():
        pids[model] = set()
        for worker in listed:
            if worker["status"] != "READY":
                continue
            process = psutil.Process(worker["pid"])
            assert process.ppid() == java, (model, worker)
            assert any(part.endswith(WORKER_SCRIPT) for part in process.cmdline()), process.cmdline()
            pids[model].add(worker["pid"])
    return pids


def wait_ready(server, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not server.ready():
        assert time.monotonic() < deadline, f"server not ready after {timeout}s:\n{server.log_tail()}"
        time.sleep(0.5)


def post_verify(server, timeout: float = 60, **kwargs) -> tuple[requests.Response, float]:
    started = time.monotonic()
    response = requests.post(f"{server.inference}/predictions/face-verify",
                             headers={**server.auth, **kwargs.pop("headers", {})}, timeout=timeout, **kwargs)
    return response, time.monotonic() - started


def files(reference: bytes, *tests: bytes) -> dict:
    fields = {"reference": ("reference", reference)}
    fields.update({f"test_{i}": (f"test_{i}", data) for i, data in enumerate(tests, start=1)})
    return fields


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ============================================================ the bad-input battery over HTTP


@pytest.fixture(scope="module")
def battery(server, photos, photo_bytes):
    """Every hostile or unusual request once, in a row, against the running server; records
    each answer and how long it took, and the worker pids before and after."""
    astronaut, upright = photo_bytes["astronaut"], rgb_image(photos["astronaut"])
    variants = mode_variants(upright)
    rng = np.random.default_rng(0)
    mutated = bytearray(astronaut)
    for at in rng.integers(600, len(mutated), 40):
        mutated[at] ^= 0xFF
    cases = {
        "exif_orientations": dict(files=files(astronaut, encode(upright, "PNG"),
                                              *[stored_with_orientation(upright, o) for o in sorted(ORIENTATIONS)])),
        "colour_modes": dict(files=files(astronaut, *[variants[name] for name in sorted(variants)])),
        "gray16_reference": dict(files=files(variants["gray16_png"], variants["cmyk_jpeg"])),
        "tiny_tests": dict(files=files(astronaut, tiny(1), tiny(10, "JPEG"), tiny(1, "GIF"))),
        "tiny_reference": dict(files=files(tiny(1))),
        "bomb_png_100k": dict(files=files(astronaut, encode_bomb_png())),
        "bomb_jpeg_65k": dict(files=files(jpeg_with_size(65_535, 65_535))),
        "fields_1000": dict(files=files(tiny(1), *[tiny(1)] * 1000)),
        "json_tests_1000": dict(json={"reference": b64(astronaut), "tests": [b64(tiny(1))] * 1000}),
        "json_30mib": dict(data=b'{"reference": "' + b"A" * (30 * 1024 * 1024) + b'"}',
                           headers={"Content-Type": "application/json"}),
        "json_33mib": dict(data=b'{"reference": "' + b"A" * (33 * 1024 * 1024) + b'"}',
                           headers={"Content-Type": "application/json"}),
        "random_bytes_reference": dict(files=files(rng.bytes(1 << 20))),
        "random_body": dict(data=rng.bytes(100_000), headers={"Content-Type": "application/octet-stream"}),
        "mutated_jpeg": dict(files=files(astronaut, bytes(mutated))),
        "truncated_png": dict(files=files(astronaut, encode(upright, "PNG")[:20_000])),
    }
    before = worker_pids(server)
    answers = {}
    for name, kwargs in cases.items():
        response, seconds = post_verify(server, timeout=120, **kwargs)
        try:
            body = response.json()
        except ValueError:
            body = {"raw": response.text[:300]}
        answers[name] = (response.status_code, body, seconds)
    after = worker_pids(server)
    return {"answers": answers, "before": before, "after": after}


def encode_bomb_png() -> bytes:
    from tests.handler.conftest import png_header_only

    return png_header_only(100_000, 100_000)


def answer(battery, name):
    status, body, seconds = battery["answers"][name]
    assert seconds < 60, f"{name}: answered after {seconds:.1f}s"
    return status, body


def test_exif_rotated_photos_score_like_the_upright_one(battery, astronaut_box):
    status, body = answer(battery, "exif_orientations")
    assert status == 200, body
    upright, *turned = body["results"]
    assert upright["faces"] == 1 and near(upright["box"], astronaut_box)
    for result in turned:
        assert result["faces"] == 1 and result["box"] == upright["box"], result
        assert result["score"] == pytest.approx(upright["score"], abs=1e-5), result


def test_every_colour_mode_works_end_to_end(battery, astronaut_box):
    status, body = answer(battery, "colour_modes")
    assert status == 200, body
    for result in body["results"]:
        assert result["faces"] == 1 and near(result["box"], astronaut_box, 12), result
    status, body = answer(battery, "gray16_reference")
    assert status == 200 and body["results"][0]["faces"] == 1, body


def test_tiny_photos(battery):
    status, body = answer(battery, "tiny_tests")
    assert status == 200, body
    assert [r["faces"] for r in body["results"]] == [0, 0, 0]
    assert all(r["score"] is None and r["match"] is False for r in body["results"])
    assert answer(battery, "tiny_reference") == (422, {"error": "no_face_in_reference",
                                                       "message": "reference: no face found in the photo"})


@pytest.mark.parametrize("name, code", [("bomb_png_100k", "image_too_large"), ("truncated_png", "truncated_image")])
def test_a_hostile_test_photo_gets_its_own_error(battery, name, code):
    status, body = answer(battery, name)
    assert status == 200, body
    (result,) = body["results"]
    assert result["error"]["code"] == code and result["error"]["message"].startswith("test_1: ")
    assert result["match"] is None


@pytest.mark.parametrize("name, status, code", [
    ("bomb_jpeg_65k", 413, "image_too_large"),
    ("fields_1000", 413, "too_many_photos"),
    ("json_tests_1000", 413, "too_many_photos"),
    ("json_30mib", 400, "not_an_image"),  # under max_request_size: the handler refuses it
    ("random_bytes_reference", 400, "not_an_image"),
    ("random_body", 400, "malformed_json"),
])
def test_hostile_requests_get_a_clear_4xx(battery, name, status, code):
    got, body = answer(battery, name)
    assert (got, body.get("error")) == (status, code), body
    assert body["message"]


def test_a_body_over_max_request_size_is_413_from_torchserve(battery):
    status, body = answer(battery, "json_33mib")
    assert status == 413, body  # TorchServe's own answer: the handler never sees it


def test_a_corrupted_jpeg_is_answered(battery):
    status, body = answer(battery, "mutated_jpeg")
    assert status == 200, body
    error = body["results"][0]["error"]
    assert error is None or error["code"] in ("truncated_image", "not_an_image"), body


def test_after_the_battery_the_same_workers_answer_correctly(battery, server, photo_bytes, astronaut_box):
    assert battery["after"] == battery["before"], "a worker was restarted during the battery"
    assert all(battery["after"][model] for model in MODELS)
    response, _ = post_verify(server, files=files(photo_bytes["astronaut"], photo_bytes["shifted"],
                                                  photo_bytes["cat"]))
    assert response.status_code == 200, response.text
    body = response.json()
    assert near(body["reference"]["box"], astronaut_box)
    assert [r["faces"] for r in body["results"]] == [1, 0]


# ============================================================ security


def test_config_binds_every_api_to_loopback():
    text = (REPO / "config.properties").read_text()
    for key in ("inference_address", "management_address", "metrics_address"):
        assert re.search(rf"^{key}=http://127\.0\.0\.1:\d+$", text, re.M), key
    for key in ("grpc_inference_address", "grpc_management_address"):  # gRPC cannot be switched off
        assert re.search(rf"^{key}=127\.0\.0\.1$", text, re.M), key
    for key in ("disable_token_authorization=false", "enable_model_api=false", "max_request_size=33554432"):
        assert re.search(rf"^{re.escape(key)}$", text, re.M), key


def test_server_listens_on_loopback_only(server):
    listening = listening_addresses(server)
    assert len(listening) >= 5  # inference, management, metrics, gRPC inference + management
    assert all(addr.ip in ("127.0.0.1", "::ffff:127.0.0.1") for addr in listening), listening


def listening_addresses(server) -> list:
    java = psutil.Process(server.pid())
    return [c.laddr for c in java.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]


def own_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses (connecting to them stays on this machine)."""
    return sorted({a.address for addrs in psutil.net_if_addrs().values() for a in addrs
                   if a.family == socket.AF_INET and not a.address.startswith("127.")})


def test_apis_are_refused_on_the_machines_other_addresses(server):
    addresses = own_addresses()
    if not addresses:
        pytest.skip("this machine has no non-loopback IPv4 address")
    ports = sorted({addr.port for addr in listening_addresses(server)})
    assert len(ports) >= 5
    for address in addresses:
        for port in ports:
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((address, port), timeout=5).close()


@pytest.mark.parametrize("token", [None, "wrong-token", "inference"])
def test_management_needs_the_management_key(server, token):
    headers = {}
    if token == "inference":
        headers = server.auth
    elif token:
        headers = {"Authorization": f"Bearer {token}"}
    response = requests.get(f"{server.management}/models", headers=headers, timeout=10)
    assert response.status_code == 400 and response.json()["type"] == "InvalidKeyException", response.text
    assert requests.get(f"{server.management}/models", headers=server.management_auth, timeout=10).status_code == 200


def test_inference_refuses_a_missing_or_wrong_token_before_the_handler(server, photo_bytes):
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": server.auth["Authorization"] + "x"}):
        response = requests.post(f"{server.inference}/predictions/face-verify", headers=headers, timeout=30,
                                 files=files(photo_bytes["astronaut"]))
        assert response.status_code == 400, response.text
        assert response.json()["type"] == "InvalidKeyException"
    assert requests.get(f"{server.inference}/ping", timeout=10).status_code == 400  # even /ping


def test_registration_api_is_off(server):
    register = requests.post(f"{server.management}/models", headers=server.management_auth, timeout=30,
                             params={"url": "face-verify.mar", "model_name": "copy"})
    assert register.status_code == 405 and register.json()["type"] == "MethodNotAllowedException", register.text
    delete = requests.delete(f"{server.management}/models/face-verify", headers=server.management_auth, timeout=30)
    assert delete.status_code == 405, delete.text
    # Scaling is not part of the "model API" switch in 0.12: it stays, behind the management key.
    scale = requests.put(f"{server.management}/models/face-verify", params={"min_worker": 1}, timeout=30)
    assert scale.status_code == 400 and scale.json()["type"] == "InvalidKeyException"


def test_metrics_api_has_no_token_but_is_loopback_only(server):
    response = requests.get(f"{server.metrics}/metrics", timeout=10)
    assert response.status_code == 200  # TorchServe 0.12: no token on metrics (counters only)


# ============================================================ a worker killed mid-request


@pytest.mark.timeout(300)
def test_a_killed_worker_is_restarted_and_only_its_request_fails(server, photo_bytes):
    """Load from 2 raw clients (no retry), SIGKILL the face-verify worker, keep sending until
    the new worker has answered. The request in the dying worker gets 500 or 507 "Worker
    died." (not retried by FaceClient: 502/503/504 only); nothing else fails, nothing is lost."""
    from client import FaceClient

    request = files(photo_bytes["astronaut"], *[photo_bytes[n] for n in ("group", "shifted", "cat", "big_group")])
    (old_pid,) = worker_pids(server)["face-verify"]
    java = server.pid()
    log, lock, killed = [], threading.Lock(), threading.Event()
    stop_at = [time.monotonic() + 120]

    def send():
        while time.monotonic() < stop_at[0]:
            started = time.monotonic()
            try:
                response = requests.post(f"{server.inference}/predictions/face-verify", files=request,
                                         headers=server.auth, timeout=120)
                outcome = response.status_code
                if outcome != 200:
                    try:
                        outcome = (outcome, response.json().get("message"))
                    except ValueError:
                        outcome = (outcome, response.text[:100])
            except requests.RequestException as exc:
                outcome = type(exc).__name__
            with lock:
                log.append((started, time.monotonic(), outcome))

    threads = [threading.Thread(target=send, daemon=True) for _ in range(2)]
    for thread in threads:
        thread.start()
    time.sleep(3)
    kill_time = time.monotonic()
    os.kill(old_pid, signal.SIGKILL)
    killed.set()
    # a FaceClient call made during the restart: queued, then answered by the new worker
    with FaceClient(server.base_url, token=server.token, timeout=120, retries=2) as face_client:
        during = face_client.verify(photo_bytes["astronaut"], [photo_bytes["shifted"]])
    assert during.results[0].faces == 1
    deadline = kill_time + 120
    while True:
        pids = worker_pids(server)["face-verify"]
        if pids and old_pid not in pids:
            break
        assert time.monotonic() < deadline, "no new face-verify worker within 120 s"
        time.sleep(0.5)
    recovered = time.monotonic() - kill_time
    stop_at[0] = time.monotonic() + 3  # a few more answers from the new worker
    for thread in threads:
        thread.join(timeout=150)
    (new_pid,) = pids
    assert new_pid != old_pid and psutil.Process(new_pid).ppid() == java
    assert not psutil.pid_exists(old_pid) or psutil.Process(old_pid).status() == psutil.STATUS_ZOMBIE
    failures = [outcome for _, _, outcome in log if outcome != 200]
    assert all(outcome in ((500, "Worker died."), (507, "Worker died."), (503, None)) or outcome[0] == 503
               for outcome in failures), failures  # each answered: no lost request
    assert len(failures) <= 2, failures  # at most the request(s) in the dying worker
    assert any(start > kill_time + recovered and outcome == 200 for start, _, outcome in log)
    print(f"\nworker {old_pid} killed; {new_pid} ready after {recovered:.1f}s; "
          f"{len(log)} requests, failures {failures}")
    wait_ready(server)


# ============================================================ a stopped and restarted server


def start_private_server(workdir: Path, ports: list[int], store: Path):
    """A TorchServe without models (quick to start) with config.properties' security settings,
    for the stop/restart/token tests: the session server's keys stay as they are."""
    from tests.conftest import VENV_BIN, ServedForTests, server_config

    config = server_config(store, workdir / "config.properties", ports)
    config.write_text(re.sub(r"^load_models=.*$", "", config.read_text(), flags=re.M))
    running = ServedForTests(workdir, config, venv_bin=VENV_BIN, tmp_prefix="ts-hard-")
    running.start()
    deadline = time.monotonic() + 120
    while True:
        if running.load_keys():
            try:
                if requests.get(f"{running.inference}/ping", headers=running.auth, timeout=5).status_code == 200:
                    return running
            except requests.RequestException:
                pass
        assert time.monotonic() < deadline, f"private TorchServe did not start:\n{running.log_tail()}"
        time.sleep(0.5)


def stop_private_server(running) -> None:
    running.stop()


def ping(running, key: str) -> int:
    return requests.get(f"{running.inference}/ping", headers={"Authorization": f"Bearer {key}"},
                        timeout=10).status_code


@pytest.mark.timeout(400)
def test_stopped_server_fails_fast_and_restart_and_token_api_rotate_the_keys(server, tmp_path, photo_bytes):
    from client import FaceClient, ServerUnavailableError
    from tests.conftest import free_ports

    ports = free_ports(3)
    store = server.workdir / "model_store"
    first = start_private_server(tmp_path, ports, store)
    running = first
    try:
        keys_before = first.keys
        face_client = FaceClient(first.base_url, key_file=tmp_path / "key_file.json", timeout=30, retries=2)
        assert face_client.health().healthy

        # --- stopped: a clear error, quickly (connection refused; 2 retries, 0.75 s of backoff)
        stop_private_server(first)
        running = None
        for call in (face_client.health, lambda: face_client.verify(photo_bytes["astronaut"], [photo_bytes["cat"]])):
            started = time.monotonic()
            with pytest.raises(ServerUnavailableError) as raised:
                call()
            assert time.monotonic() - started < 10
            assert "make serve" in str(raised.value) and raised.value.code == "connection_failed"

        # --- restarted: every key is new; the old ones are refused
        running = start_private_server(tmp_path, ports, store)
        for kind in ("inference", "management", "API"):
            assert running.keys[kind]["key"] != keys_before[kind]["key"], kind
        assert ping(running, keys_before["inference"]["key"]) == 400
        assert ping(running, running.token) == 200
        assert face_client.health().healthy  # the client re-reads key_file.json once on a refused key

        # --- the token API: with the API key (the management key is refused), old key dead at once
        old = running.token
        url = f"{running.management}/token"
        refused = requests.post(url, params={"type": "inference"}, headers=running.management_auth, timeout=10)
        assert refused.status_code == 400 and refused.json()["type"] == "InvalidKeyException"
        api = {"Authorization": f"Bearer {running.keys['API']['key']}"}
        rotated = requests.post(url, params={"type": "inference"}, headers=api, timeout=10)
        assert rotated.status_code == 200, rotated.text
        running.load_keys()
        assert running.token != old  # written to key_file.json
        assert ping(running, old) == 400 and ping(running, running.token) == 200
        old_management = running.keys["management"]["key"]
        assert requests.post(url, params={"type": "management"}, headers=api, timeout=10).status_code == 200
        running.load_keys()
        assert running.keys["management"]["key"] != old_management
        assert requests.get(f"{running.management}/models", timeout=10,
                            headers={"Authorization": f"Bearer {old_management}"}).status_code == 400
        assert requests.get(f"{running.management}/models", headers=running.management_auth,
                            timeout=10).status_code == 200
        face_client.close()
    finally:
        if running is not None:
            stop_private_server(running)
