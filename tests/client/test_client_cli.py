"""`python -m client ...` against the stub: table, JSON output and exit codes."""
from __future__ import annotations

import json

import pytest
from stub_http import closed_port_url, sample_embedding, sample_verification

from client.cli import main


@pytest.fixture
def photos(tmp_path):
    ref, a, b = tmp_path / "ref.jpg", tmp_path / "a.jpg", tmp_path / "cat.png"
    ref.write_bytes(b"\xff\xd8\xffR")
    a.write_bytes(b"\xff\xd8\xffA")
    b.write_bytes(b"\x89PNG\r\n\x1a\nB")
    return ref, a, b


def test_verify_prints_a_table_and_writes_json(stub, photos, tmp_path, capsys):
    ref, a, b = photos
    stub.add(200, sample_verification(2))
    out = tmp_path / "out" / "result.json"
    code = main(["verify", str(ref), str(a), str(b), "--url", stub.url, "--token", "t",
                 "--threshold", "0.5", "--json", str(out)])
    assert code == 0
    table = capsys.readouterr().out
    assert "test_1" in table and str(a) in table and "YES" in table and "0.810" in table
    assert "[10, 20, 80, 96]" in table
    assert "matched 1 of 2" in table
    saved = json.loads(out.read_text())
    assert saved["results"] == sample_verification(2)["results"]
    assert saved["files"] == {"reference": str(ref), "test_1": str(a), "test_2": str(b)}
    assert stub.requests[0].headers["Authorization"] == "Bearer t"
    assert b'name="threshold"' in stub.requests[0].body


def test_a_folder_of_tests_is_expanded(stub, photos, capsys):
    ref, a, _ = photos
    stub.add(200, sample_verification(3))  # ref.jpg, a.jpg, cat.png: sorted folder content
    assert main(["verify", str(ref), str(a.parent), "--url", stub.url, "--token", "t", "--json", "-"]) == 0
    assert json.loads(capsys.readouterr().out)["files"]["test_3"].endswith("ref.jpg")


@pytest.mark.parametrize("status, body, code, text", [
    (400, {"error": "not_an_image", "message": "test_1 is not a photo"}, 5, "test_1 is not a photo"),
    (400, {"code": 400, "type": "InvalidKeyException", "message": "Token Authorization failed."}, 4,
     "authentication failed"),
    (500, {"code": 500, "type": "InternalServerException", "message": "Internal Server Error"}, 1,
     "Internal Server Error"),
])
def test_errors_exit_non_zero_with_the_message(stub, photos, capsys, status, body, code, text):
    ref, a, _ = photos
    stub.add(status, body)
    assert main(["verify", str(ref), str(a), "--url", stub.url, "--token", "t"]) == code
    err = capsys.readouterr().err
    assert err.startswith("error: ") and text in err


def test_unreachable_server_exit_code(photos, capsys):
    ref, a, _ = photos
    assert main(["verify", str(ref), str(a), "--url", closed_port_url(), "--token", "t", "--retries", "0"]) == 3
    assert "cannot reach" in capsys.readouterr().err


def test_missing_photo_exit_code(tmp_path, capsys):
    assert main(["verify", str(tmp_path / "nope.jpg"), str(tmp_path / "x.jpg"), "--token", "t"]) == 5
    assert "no such photo" in capsys.readouterr().err


def test_embed_and_health_commands(stub, photos, capsys):
    ref, _, _ = photos
    stub.add(200, sample_embedding())
    stub.add(200, {"status": "Healthy"})
    assert main(["embed", str(ref), "--url", stub.url, "--token", "t"]) == 0
    assert "faces: 2" in capsys.readouterr().out
    assert main(["health", "--url", stub.url, "--token", "t"]) == 0
    assert capsys.readouterr().out.strip() == "Healthy"


def test_a_token_starting_with_a_dash_is_a_value(stub, photos):
    # TorchServe keys are URL-safe base64: about 1 in 64 starts with '-'.
    ref, a, _ = photos
    stub.add(200, sample_verification(1))
    assert main(["verify", str(ref), str(a), "--token", "-Ab_c", "--url", stub.url]) == 0
    assert stub.requests[0].headers["Authorization"] == "Bearer -Ab_c"
