"""The real thing: build the .mar files with the `make archive` command, start TorchServe on
free ports with the security settings of config.properties, call it with curl and requests.

Skipped without Java. One server for the test session, started by the `torchserve_server`
fixture in tests/conftest.py (about 10-20 s to start on 2 cores).
"""
from __future__ import annotations

import base64
import json
import subprocess
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server(torchserve_server):
    """The session's TorchServe (tests/conftest.py), shared with the client tests."""
    return torchserve_server


@pytest.fixture(scope="module")
def sample_dir(tmp_path_factory, photo_bytes, bomb_png) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    for name, data in photo_bytes.items():
        (folder / f"{name}.jpg").write_bytes(data)
    (folder / "bomb.png").write_bytes(bomb_png)
    (folder / "truncated.jpg").write_bytes(photo_bytes["astronaut"][:6000])
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.txt").write_text("not a photo\n")
    return folder


def check_box(box) -> None:
    assert isinstance(box, list) and len(box) == 4 and all(isinstance(v, float) for v in box)
    assert box[2] > 0 and box[3] > 0


def test_curl_multipart(server, sample_dir, astronaut_box):
    command = ["curl", "-sS", "-w", "\n%{http_code}", "-H", f"Authorization: Bearer {server.keys['inference']['key']}",
               f"{server.inference}/predictions/face-verify",
               "-F", f"reference=@{sample_dir / 'astronaut.jpg'}",
               "-F", f"test_1=@{sample_dir / 'group.jpg'}",
               "-F", f"test_2=@{sample_dir / 'cat.jpg'}",
               "-F", f"test_3=@{sample_dir / 'cameraman.jpg'}",
               "-F", "threshold=0.35"]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=120).stdout
    body, status = out.rsplit("\n", 1)
    assert status == "200", body
    response = json.loads(body)
    assert set(response) == {"model", "aliases", "threshold", "reference", "results"}
    assert response["model"].startswith("face-verify:")
    assert response["threshold"] == 0.35
    assert set(response["reference"]) == {"box", "confidence"}
    check_box(response["reference"]["box"])
    assert all(abs(a - b) < 10 for a, b in zip(response["reference"]["box"], astronaut_box, strict=False))
    assert 0.5 < response["reference"]["confidence"] <= 1.0
    results = response["results"]
    assert [r["name"] for r in results] == ["test_1", "test_2", "test_3"]
    assert [r["faces"] for r in results] == [2, 0, 1]
    assert results[1] == {"name": "test_2", "match": False, "score": None, "box": None, "faces": 0,
                          "detections": [], "error": None}
    for result in (results[0], results[2]):
        assert set(result) == {"name", "match", "score", "box", "faces", "detections", "error"}
        assert isinstance(result["score"], float) and -1.0 <= result["score"] <= 1.0 + 1e-6
        assert result["match"] is (result["score"] >= 0.35)
        check_box(result["box"])


def test_json_request(server, photo_bytes):
    import torch

    from model.embedder import version_prefix

    meta = torch.load(REPO / "weights" / "face_embedder.pt", map_location="cpu", weights_only=True)["meta"]
    body = {"reference": base64.b64encode(photo_bytes["astronaut"]).decode(),
            "tests": [base64.b64encode(photo_bytes[n]).decode() for n in ("shifted", "cat")]}
    response = requests.post(f"{server.inference}/predictions/face-verify", json=body,
                             headers=server.auth, timeout=120)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    payload = response.json()
    # the stored name of the weights: the served version (a hash of the tensors) or one of its aliases
    assert f"face-verify:{meta['version']}" in [payload["model"], *payload["aliases"]]
    assert payload["model"].startswith(f"face-verify:{version_prefix(meta)}-")
    # the served one: the weights' FAR table row for the rate it was fitted for (4 decimals, rounded up)
    assert {"far": meta["threshold_far"], "threshold": payload["threshold"]} in meta["far_thresholds"]
    assert [r["name"] for r in payload["results"]] == ["test_1", "test_2"]
    assert payload["results"][0]["faces"] == 1 and payload["results"][1]["faces"] == 0


def test_embed_endpoint(server, photo_bytes):
    url = f"{server.inference}/predictions/face-embed"
    group = photo_bytes["group"]
    calls = [
        dict(files={"image": ("group.jpg", group)}),
        dict(data=group, headers={"Content-Type": "application/octet-stream"}),
        dict(json={"image": base64.b64encode(group).decode()}),
    ]
    from model.embedder import load_backbone

    served_dim = load_backbone(REPO / "weights" / "face_embedder.pt")[0].config.embedding_dim
    for call in calls:
        headers = {**server.auth, **call.pop("headers", {})}
        response = requests.post(url, headers=headers, timeout=120, **call)
        assert response.status_code == 200, response.text
        payload = response.json()
        assert payload["model"].startswith("face-embed:")
        assert -1 <= payload["threshold"] <= 1  # the calibrated one, for callers comparing embeddings
        stricter = [row["threshold"] for row in payload["far_thresholds"] if row["far"] < 0.001]
        assert stricter and min(stricter) >= payload["threshold"]  # the served weights' table, for 1:N search
        assert len(payload["faces"]) == 2
        for face in payload["faces"]:
            check_box(face["box"])
            assert len(face["embedding"]) == served_dim
            assert abs(sum(v * v for v in face["embedding"]) - 1.0) < 1e-3


BAD = {  # error code -> (multipart files or JSON body, expected status)
    "missing_reference": ({"test_1": "astronaut.jpg"}, 400),
    "no_face_in_reference": ({"reference": "cat.jpg"}, 422),
    "not_an_image": ({"reference": "notes.txt", "test_1": "astronaut.jpg"}, 400),
    "truncated_image": ({"reference": "truncated.jpg"}, 400),
    "empty_file": ({"reference": "empty.jpg", "test_1": "astronaut.jpg"}, 400),
    "too_many_photos": ({"reference": "astronaut.jpg", "test_33": "astronaut.jpg"}, 413),
    "image_too_large": ({"reference": "bomb.png"}, 413),
    "invalid_threshold": ({"reference": "astronaut.jpg", "threshold": "NaN"}, 400),
    "unknown_field": ({"reference": "astronaut.jpg", "selfie": "astronaut.jpg"}, 400),
    "malformed_json": ('{"reference": "abc", ', 400),
    "invalid_base64": ('{"reference": "***"}', 400),
}


@pytest.mark.parametrize("code", sorted(BAD))
def test_bad_input_is_a_4xx_json_and_the_server_lives_on(server, sample_dir, code):
    spec, expected = BAD[code]
    if isinstance(spec, str):
        response = requests.post(f"{server.inference}/predictions/face-verify", data=spec,
                                 headers={**server.auth, "Content-Type": "application/json"}, timeout=60)
    else:
        files = {field: (value, (sample_dir / value).read_bytes()) if "." in value else (None, value)
                 for field, value in spec.items()}
        response = server.verify(files)
    assert response.status_code == expected, response.text
    payload = response.json()
    assert payload["error"] == code and payload["message"]
    alive = server.verify({"reference": ("a.jpg", (sample_dir / "astronaut.jpg").read_bytes())})
    assert alive.status_code == 200 and alive.json()["results"] == []


def test_unusable_test_photos_get_their_own_errors(server, sample_dir):
    names = ["notes.txt", "empty.jpg", "bomb.png", "truncated.jpg", "astronaut.jpg"]
    files = {"reference": ("r.jpg", (sample_dir / "astronaut.jpg").read_bytes()),
             **{f"test_{i}": (name, (sample_dir / name).read_bytes()) for i, name in enumerate(names, start=1)}}
    response = server.verify(files)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["error"]["code"] if r["error"] else None for r in results] == [
        "not_an_image", "empty_file", "image_too_large", "truncated_image", None]
    assert results[-1]["match"] is True and results[-1]["faces"] == 1


def test_an_empty_post_to_face_embed_is_missing_image(server):
    response = requests.post(f"{server.inference}/predictions/face-embed", data=b"",
                             headers={**server.auth, "Content-Type": "application/octet-stream"}, timeout=60)
    assert response.status_code == 400 and response.json()["error"] == "missing_image", response.text


def test_oversized_request_is_refused(server):
    response = requests.post(f"{server.inference}/predictions/face-verify", headers=server.auth,
                             files={"reference": ("big.jpg", b"\xff" * (33 * 1024 * 1024))}, timeout=60)
    assert response.status_code == 413


@pytest.mark.parametrize("token", [None, "wrong-token", "management"])
def test_inference_needs_the_inference_token(server, sample_dir, token):
    headers = {}
    if token == "management":
        headers = server.management_auth
    elif token:
        headers = {"Authorization": f"Bearer {token}"}
    response = requests.post(f"{server.inference}/predictions/face-verify", headers=headers, timeout=60,
                             files={"reference": ("a.jpg", (sample_dir / "astronaut.jpg").read_bytes())})
    # TorchServe 0.12 answers 400 {"type": "InvalidKeyException"}; 401 would be as good.
    assert response.status_code in (400, 401), response.text
    assert "Token" in response.json()["message"]
    assert "results" not in response.text


def test_management_cannot_register_or_unregister_models(server):
    register = requests.post(f"{server.management}/models", params={"url": "face-verify.mar", "model_name": "copy"},
                             headers=server.management_auth, timeout=60)
    assert 400 <= register.status_code < 500, register.text
    delete = requests.delete(f"{server.management}/models/face-verify", headers=server.management_auth, timeout=60)
    assert 400 <= delete.status_code < 500, delete.text
    listed = requests.get(f"{server.management}/models", headers=server.management_auth, timeout=60).json()
    # unchanged: the models config.properties loads, no "copy", face-verify still there
    assert sorted(m["modelName"] for m in listed["models"]) == sorted(server.models)
    assert {"face-verify", "face-embed"} <= set(server.models)
    assert requests.get(f"{server.management}/models", timeout=60).status_code in (400, 401)


def test_one_plus_fifteen_latency(server, photo_bytes):
    files = {"reference": ("ref.jpg", photo_bytes["astronaut"])}
    cycle = ["group", "shifted", "cameraman", "scaled", "cat"]
    for i in range(1, 16):
        files[f"test_{i}"] = (f"{i}.jpg", photo_bytes[cycle[i % len(cycle)]])
    timings = []
    for _ in range(2):
        started = time.monotonic()
        response = server.verify(files)
        timings.append(time.monotonic() - started)
        assert response.status_code == 200 and len(response.json()["results"]) == 15
    print(f"\n1 + 15 request: {', '.join(f'{t:.2f}s' for t in timings)} (server start {server.start_seconds:.1f}s)")
    assert min(timings) < 30
