"""The bad-input battery in process (tests/handler/test_face_handler.py covers the error codes
one by one; this covers what real phones and hostile clients send): every colour mode, EXIF
orientation, tiny photos, bomb headers in PNG and JPEG, 1000 test fields. Each request is
answered in bounded time with a correct result or a clear 4xx; the handler lives on."""
from __future__ import annotations

import base64

import numpy as np
import pytest

from handler.protocol import ERROR_STATUS, PHOTO_ERRORS
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


@pytest.fixture(scope="module")
def astronaut_rgb(photos):
    return rgb_image(photos["astronaut"])


def test_exif_orientation_gives_the_upright_face_and_score(verify, photo_bytes, astronaut_rgb, astronaut_box):
    """Lossless (PNG + eXIf): every orientation decodes to the upright pixels, so the face is
    found at the same place with the same score as the upright photo."""
    request = {"reference": bytearray(photo_bytes["astronaut"]),
               "test_1": bytearray(encode(astronaut_rgb, "PNG"))}
    for i, orientation in enumerate(sorted(ORIENTATIONS), start=2):
        request[f"test_{i}"] = bytearray(stored_with_orientation(astronaut_rgb, orientation))
    response, status = verify.one(request)
    assert status == 200, response
    upright, *turned = response["results"]
    assert upright["faces"] == 1 and near(upright["box"], astronaut_box)
    for result in turned:
        assert result["faces"] == 1, result
        assert result["box"] == upright["box"], result
        assert result["score"] == pytest.approx(upright["score"], abs=1e-5), result


def test_exif_rotated_jpeg_matches_the_upright_one(verify, photo_bytes, astronaut_rgb, astronaut_box):
    """A phone JPEG stored sideways (orientation 6 and 8): re-encoding costs a little, the
    face and the verdict stay."""
    request = {"reference": bytearray(photo_bytes["astronaut"]),
               "test_1": bytearray(encode(astronaut_rgb, "JPEG", quality=95)),
               "test_2": bytearray(stored_with_orientation(astronaut_rgb, 6, "JPEG")),
               "test_3": bytearray(stored_with_orientation(astronaut_rgb, 8, "JPEG")),
               "test_4": bytearray(photo_bytes["cameraman"])}
    response, status = verify.one(request)
    assert status == 200
    upright, right, left, other = response["results"]
    for turned in (right, left):
        assert turned["faces"] == 1 and near(turned["box"], astronaut_box)
        assert turned["score"] == pytest.approx(upright["score"], abs=0.05)
        assert turned["score"] > other["score"] + 0.1


@pytest.fixture(scope="module")
def variants(astronaut_rgb) -> dict[str, bytes]:
    return mode_variants(astronaut_rgb)


def test_every_colour_mode_finds_the_face(verify, photo_bytes, variants, astronaut_box):
    names = sorted(variants)
    request = {"reference": bytearray(photo_bytes["astronaut"]),
               "test_1": bytearray(photo_bytes["cameraman"])}
    for i, name in enumerate(names, start=2):
        request[f"test_{i}"] = bytearray(variants[name])
    response, status = verify.one(request)
    assert status == 200, response
    other, *results = response["results"]
    for name, result in zip(names, results, strict=False):
        assert result["faces"] == 1, (name, result)
        assert near(result["box"], astronaut_box, 12), (name, result)
        assert result["score"] > other["score"] + 0.1, (name, result, other)


def test_16_bit_and_gray_references_work(verify, variants):
    for name in ("gray16_png", "gray_png", "cmyk_jpeg", "rgba_png"):
        response, status = verify.one({"reference": bytearray(variants[name]),
                                       "test_1": bytearray(variants["gray_jpeg"])})
        assert status == 200 and response["results"][0]["faces"] == 1, (name, response)


@pytest.mark.parametrize("side", [1, 2, 10])
@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "BMP", "WEBP"])
def test_tiny_photos(verify, photo_bytes, side, fmt):
    small = tiny(side, fmt)
    response, status = verify.one({"reference": bytearray(photo_bytes["astronaut"]), "test_1": bytearray(small)})
    assert status == 200
    assert response["results"][0] == {"name": "test_1", "match": False, "score": None, "box": None, "faces": 0,
                                      "detections": [], "error": None}
    response, status = verify.one({"reference": bytearray(small)})
    assert (response["error"], status) == ("no_face_in_reference", 422)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("field", ["reference", "test_1"])
def test_bomb_headers_are_refused_before_decoding(verify, photo_bytes, bomb_png, field):
    """In the reference: the request's 413. In a test photo: that photo's own error."""
    from tests.handler.conftest import png_header_only

    for bomb in (png_header_only(100_000, 100_000), jpeg_with_size(65_535, 65_535), bomb_png):
        request = {"reference": bytearray(photo_bytes["astronaut"]), field: bytearray(bomb)}
        response, status = verify.one(request)
        if field == "reference":
            assert (response["error"], status) == ("image_too_large", 413)
            assert field in response["message"]
        else:
            assert status == 200
            error = response["results"][0]["error"]
            assert error["code"] == "image_too_large" and field in error["message"]


@pytest.mark.timeout(60)
def test_a_thousand_test_fields_are_refused_before_any_decoding(verify, photo_bytes, monkeypatch):
    decoded = []
    photo_faces = verify.handler.pipeline.photo_faces
    monkeypatch.setattr(verify.handler.pipeline, "photo_faces",
                        lambda *a, **k: decoded.append(1) or photo_faces(*a, **k))
    photo = bytearray(photo_bytes["astronaut"])
    form = {"reference": photo, **{f"test_{i}": photo for i in range(1, 1001)}}
    response, status = verify.one(form)
    assert (response["error"], status) == ("too_many_photos", 413)
    as_json = {"body": {"reference": base64.b64encode(photo).decode(),
                        "tests": [base64.b64encode(photo).decode()] * 1000}}
    response, status = verify.one(as_json)
    assert (response["error"], status) == ("too_many_photos", 413)
    assert decoded == []  # refused from the field count alone: no photo decoded


@pytest.mark.timeout(120)
def test_garbage_in_every_field_then_a_normal_request(verify, photo_bytes, astronaut_box):
    """A batch of hostile requests, then the same handler answers a normal one correctly."""
    rng = np.random.default_rng(0)
    hostile = [
        {"reference": bytearray(rng.bytes(50_000))},
        {"reference": bytearray(photo_bytes["astronaut"]), "test_1": bytearray(b"\x89PNG\r\n\x1a\n" + rng.bytes(999))},
        {"reference": bytearray(photo_bytes["astronaut"]), "test_1": bytearray(b"\xff\xd8\xff\xe0" + rng.bytes(999))},
        {"body": bytearray(rng.bytes(2000))},
        {"body": {"reference": "", "tests": [""]}},
        {"body": {"reference": base64.b64encode(rng.bytes(3000)).decode()}},
        {"reference": bytearray(photo_bytes["astronaut"]), "threshold": bytearray(rng.bytes(64))},
        {"reference": "text, not a file"},
    ]
    outputs, statuses = verify(*hostile)
    for output, status in zip(outputs, statuses, strict=False):
        if "results" in output:  # garbage in a test photo: that photo's own error
            assert status == 200 and output["results"][0]["error"]["code"] in PHOTO_ERRORS, output
        else:
            assert 400 <= status < 500 and status == ERROR_STATUS[output["error"]], output
    assert sum("results" in output for output in outputs) == 2
    response, status = verify.one({"reference": bytearray(photo_bytes["astronaut"]),
                                   "test_1": bytearray(photo_bytes["shifted"])})
    assert status == 200 and response["results"][0]["faces"] == 1
    assert near(response["reference"]["box"], astronaut_box)
