"""What the client sends: token resolution, multipart layout, photo input types."""
from __future__ import annotations

import email.parser
import email.policy
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from stub_http import sample_verification

from client import AuthenticationError, FaceClient, PhotoInputError
from client.photos import photo_bytes, photo_part


def key_file(path, inference="inference-key"):
    path.write_text(json.dumps({
        "management": {"key": "management-key", "expiration time": "2099-01-01T00:00:00Z"},
        "inference": {"key": inference, "expiration time": "2099-01-01T00:00:00Z"},
        "API": {"key": "api-key"},
    }))
    return path


def parts(body: bytes, content_type: str) -> dict[str, tuple[str | None, bytes]]:
    """name -> (filename, payload) of a multipart/form-data body."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    found = {}
    for part in message.iter_parts():
        found[part.get_param("name", header="content-disposition")] = (part.get_filename(),
                                                                      part.get_payload(decode=True))
    return found


def sample_image() -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)


# ---------------------------------------------------------------- token


def test_token_argument_wins(monkeypatch, isolated_cwd):
    key_file(isolated_cwd / "key_file.json")
    monkeypatch.setenv("FACE_VERIFY_TOKEN", "env-token")
    client = FaceClient(token="arg-token")
    assert client._headers()["Authorization"] == "Bearer arg-token"


def test_env_token_beats_key_files(monkeypatch, isolated_cwd):
    key_file(isolated_cwd / "key_file.json")
    monkeypatch.setenv("FACE_VERIFY_TOKEN", "env-token")
    assert FaceClient()._headers()["Authorization"] == "Bearer env-token"


def test_key_file_argument_then_env_then_cwd(monkeypatch, isolated_cwd):
    key_file(isolated_cwd / "key_file.json", "cwd-key")
    other = key_file(isolated_cwd / "other.json", "env-file-key")
    explicit = key_file(isolated_cwd / "explicit.json", "explicit-key")
    assert FaceClient()._headers()["Authorization"] == "Bearer cwd-key"
    monkeypatch.setenv("FACE_VERIFY_KEY_FILE", str(other))
    assert FaceClient()._headers()["Authorization"] == "Bearer env-file-key"
    assert FaceClient(key_file=explicit)._headers()["Authorization"] == "Bearer explicit-key"


def test_key_file_is_never_found_through_the_package_location(isolated_cwd, tmp_path_factory):
    """Only explicit places: the argument, $FACE_VERIFY_KEY_FILE, the working directory.
    Key files beside the package and its parent folder are not read."""
    import shutil
    import subprocess
    import sys

    import client

    site = tmp_path_factory.mktemp("site")
    shutil.copytree(Path(client.__file__).parent, site / "client", ignore=shutil.ignore_patterns("__pycache__"))
    key_file(site / "key_file.json", "beside-key")
    key_file(site / "client" / "key_file.json", "inside-key")
    source = subprocess.run([sys.executable, "-c", "import client; print(client.FaceClient().token_source)"],
                            cwd=isolated_cwd, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
                            capture_output=True, text=True, check=True).stdout.strip()
    assert source == "none"


def test_no_token_anywhere_sends_no_header(isolated_cwd):
    client = FaceClient()
    assert "Authorization" not in client._headers() and client.token_source == "none"


def test_empty_token_disables_the_key_file(isolated_cwd):
    key_file(isolated_cwd / "key_file.json")
    assert "Authorization" not in FaceClient(token="")._headers()


def test_broken_explicit_key_file_is_an_authentication_error(isolated_cwd):
    (isolated_cwd / "bad.json").write_text('{"management": {"key": "m"}}')
    with pytest.raises(AuthenticationError, match="inference"):
        FaceClient(key_file=isolated_cwd / "bad.json")
    with pytest.raises(AuthenticationError, match="cannot read"):
        FaceClient(key_file=isolated_cwd / "missing.json")


def test_key_file_is_reread_once_after_a_server_restart(stub, isolated_cwd):
    path = key_file(isolated_cwd / "key_file.json", "old-key")
    client = FaceClient(stub.url)
    key_file(path, "new-key")  # TorchServe restarted and wrote new keys
    stub.add(400, {"code": 400, "type": "InvalidKeyException", "message": "Token Authorization failed."})
    stub.add(200, {"status": "Healthy"})
    assert client.health().healthy
    assert [r.headers["Authorization"] for r in stub.requests] == ["Bearer old-key", "Bearer new-key"]


def test_unchanged_key_file_is_not_retried_forever(stub, isolated_cwd):
    key_file(isolated_cwd / "key_file.json", "same-key")
    for _ in range(3):
        stub.add(400, {"code": 400, "type": "InvalidKeyException", "message": "Token Authorization failed."})
    with pytest.raises(AuthenticationError, match="expired"):
        FaceClient(stub.url).health()
    assert len(stub.requests) == 1


def test_missing_token_error_says_how_to_give_one(stub, isolated_cwd):
    stub.add(400, {"code": 400, "type": "InvalidKeyException", "message": "Token Authorization failed."})
    with pytest.raises(AuthenticationError, match="FACE_VERIFY_TOKEN"):
        FaceClient(stub.url).health()
    assert "Authorization" not in stub.requests[0].headers


# ---------------------------------------------------------------- multipart


def test_multipart_fields_follow_the_contract(stub):
    stub.add(200, sample_verification(3))
    FaceClient(stub.url, token="t").verify(b"\xff\xd8\xffREF", [b"\xff\xd8\xffA", b"\x89PNG\r\n\x1a\nB", b"C"],
                                           threshold=0.35)
    request = stub.requests[0]
    found = parts(request.body, request.headers["Content-Type"])
    assert list(found) == ["reference", "test_1", "test_2", "test_3", "threshold"]
    assert found["reference"] == ("reference.jpg", b"\xff\xd8\xffREF")
    assert found["test_2"] == ("test_2.png", b"\x89PNG\r\n\x1a\nB")
    assert found["test_3"] == ("test_3.bin", b"C")
    assert float(found["threshold"][1]) == 0.35


def test_threshold_is_optional(stub):
    stub.add(200, sample_verification(1))
    FaceClient(stub.url, token="t").verify(b"R", [b"T"])
    request = stub.requests[0]
    assert "threshold" not in parts(request.body, request.headers["Content-Type"])


def test_a_single_photo_as_tests_is_one_test(stub, tmp_path):
    photo = tmp_path / "one.jpg"
    photo.write_bytes(b"\xff\xd8\xffONE")
    stub.add(200, sample_verification(1))
    result = FaceClient(stub.url, token="t").verify(photo, photo)
    assert len(result.results) == 1


def test_no_tests_is_refused_locally(stub):
    with pytest.raises(PhotoInputError, match="at least one"):
        FaceClient(stub.url, token="t").verify(b"R", [])
    assert stub.requests == []


class FixedBoundaryClient(FaceClient):
    def build_multipart(self, fields, boundary=None):
        return super().build_multipart(fields, boundary="fixed-boundary-for-tests")


def _sent_body(stub, reference, tests) -> bytes:
    stub.add(200, sample_verification(len(tests)))
    FixedBoundaryClient(stub.url, token="t").verify(reference, tests)
    return stub.requests[-1].body


def test_path_bytes_and_file_object_send_identical_requests(stub, tmp_path):
    buffer = io.BytesIO()
    Image.fromarray(sample_image()).save(buffer, format="JPEG", quality=90)
    data = buffer.getvalue()
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    as_path = _sent_body(stub, path, [path])
    as_str = _sent_body(stub, str(path), [str(path)])
    as_bytes = _sent_body(stub, data, [bytearray(data)])
    with open(path, "rb") as ref, open(path, "rb") as test:
        as_file = _sent_body(stub, ref, [test])
    assert as_path == as_str == as_bytes == as_file
    assert data in as_path


def test_pil_and_numpy_send_identical_requests(stub):
    pixels = sample_image()
    as_array = _sent_body(stub, pixels, [pixels])
    as_pil = _sent_body(stub, Image.fromarray(pixels), [Image.fromarray(pixels)])
    assert as_array == as_pil
    assert b'filename="reference.jpg"' in as_array  # JPEG by default


@pytest.mark.parametrize("make_photo", [lambda a: a, Image.fromarray], ids=["numpy", "pil"])
def test_png_encoding_is_lossless(make_photo):
    pixels = sample_image()
    data = photo_bytes(make_photo(pixels), encoding="png")
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), pixels)


def test_array_modes_and_encoded_formats():
    grey = np.zeros((10, 12), dtype=np.uint8)
    rgba = np.zeros((10, 12, 4), dtype=np.uint8)
    assert photo_part("x", grey)[0] == "x.jpg"
    assert photo_part("x", rgba)[0] == "x.png"  # alpha cannot go into a JPEG
    assert Image.open(io.BytesIO(photo_bytes(rgba))).size == (12, 10)


@pytest.mark.parametrize("bad, match", [
    (np.zeros((4, 4, 3), dtype=np.float32), "uint8"),
    (np.zeros((4, 4, 2), dtype=np.uint8), "HxWx3"),
    (np.zeros((0, 4, 3), dtype=np.uint8), "no pixels"),
    (12345, "unsupported photo type"),
    (io.StringIO("text"), "text mode"),
])
def test_unusable_photos_fail_before_sending(stub, bad, match):
    with pytest.raises(PhotoInputError, match=match):
        FaceClient(stub.url, token="t").verify(b"R", [bad])
    assert stub.requests == []


def test_missing_file_is_a_photo_error(tmp_path):
    with pytest.raises(PhotoInputError, match="no such photo") as info:
        photo_bytes(tmp_path / "nope.jpg")
    assert info.value.code == "file_not_found"
