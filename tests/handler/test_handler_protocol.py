"""The request contract on its own: parsing, validation, error codes, settings."""
from __future__ import annotations

import base64
import dataclasses
import math
from pathlib import Path

import pytest
import yaml as yaml_module
from hypothesis import given, settings
from hypothesis import strategies as st

from handler.protocol import (
    ERROR_STATUS,
    RequestError,
    Settings,
    decode_base64,
    parse_embed,
    parse_threshold,
    parse_verify,
)

PHOTO = bytearray(b"\xff\xd8 not checked here")


def code_of(call, *args) -> str:
    with pytest.raises(RequestError) as caught:
        call(*args)
    assert 400 <= caught.value.status < 500
    assert caught.value.message
    return caught.value.code


def test_form_fields_in_number_order_with_threshold():
    fields = {"test_10": bytearray(b"ten"), "reference": PHOTO, "test_2": bytearray(b"two"),
              "threshold": bytearray(b" 0.25 ")}
    parsed = parse_verify(fields, max_tests=32)
    assert parsed.reference.data == bytes(PHOTO)
    assert [(p.name, p.data) for p in parsed.tests] == [("test_2", b"two"), ("test_10", b"ten")]
    assert parsed.threshold == 0.25


def test_form_without_tests_or_threshold():
    parsed = parse_verify({"reference": PHOTO}, max_tests=32)
    assert parsed.tests == [] and parsed.threshold is None


@pytest.mark.parametrize(
    "fields, code",
    [
        ({"test_1": PHOTO}, "missing_reference"),
        ({}, "missing_reference"),
        ({"reference": PHOTO, "test_33": PHOTO}, "too_many_photos"),
        ({"reference": PHOTO, "test_0": PHOTO}, "unknown_field"),
        ({"reference": PHOTO, "test_01": PHOTO}, "unknown_field"),
        ({"reference": PHOTO, "photo": PHOTO}, "unknown_field"),
        ({"reference": PHOTO, "Reference": PHOTO}, "unknown_field"),
        ({"reference": "text, not a file"}, "not_an_image"),
        ({"reference": PHOTO, "threshold": bytearray(b"high")}, "invalid_threshold"),
        ({"reference": PHOTO, "threshold": bytearray(b"\xff")}, "invalid_threshold"),
    ],
)
def test_form_errors(fields, code):
    assert code_of(parse_verify, fields, 32) == code


def test_unknown_field_message_names_the_field():
    with pytest.raises(RequestError) as caught:
        parse_verify({"reference": PHOTO, "selfie": PHOTO}, 32)
    assert "selfie" in caught.value.message


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_json_body_names_tests_in_list_order():
    body = {"reference": b64(b"ref"), "tests": [b64(b"a"), b64(b"b")], "threshold": 0.4}
    parsed = parse_verify({"body": body}, max_tests=32)
    assert parsed.reference.data == b"ref"
    assert [(p.name, p.data) for p in parsed.tests] == [("test_1", b"a"), ("test_2", b"b")]
    assert parsed.threshold == 0.4


def test_json_as_bytes_when_content_type_is_not_json():
    raw = b'{"reference": "%s", "tests": []}' % b64(b"ref").encode()
    for key in ("body", "data"):
        assert parse_verify({key: bytearray(raw)}, 32).reference.data == b"ref"


@pytest.mark.parametrize(
    "request_, code",
    [
        ({"body": {"tests": []}}, "missing_reference"),
        ({"body": {"reference": None}}, "missing_reference"),
        ({"body": {"reference": b64(b"r"), "tests": [b64(b"t")] * 33}}, "too_many_photos"),
        ({"body": {"reference": b64(b"r"), "extra": 1}}, "unknown_field"),
        ({"body": {"reference": b64(b"r"), "tests": "abc"}}, "malformed_json"),
        ({"body": {"reference": "%%%not base64"}}, "invalid_base64"),
        ({"body": {"reference": 12}}, "invalid_base64"),
        ({"body": {"reference": b64(b"r"), "tests": [None]}}, "invalid_base64"),
        ({"body": {"reference": b64(b"r"), "threshold": "nan"}}, "invalid_threshold"),
        ({"body": {"reference": b64(b"r"), "threshold": True}}, "invalid_threshold"),
        ({"body": [1, 2]}, "malformed_json"),
        ({"body": None}, "malformed_json"),
        ({"body": bytearray(b'{"reference": ')}, "malformed_json"),
        ({"body": bytearray(b"\xff\xd8\xff binary")}, "malformed_json"),
        ({"body": bytearray(b"[1]")}, "malformed_json"),
        ({"body": "plain text"}, "malformed_json"),
    ],
)
def test_json_errors(request_, code):
    assert code_of(parse_verify, request_, 32) == code


def test_base64_variants():
    data = bytes(range(256))
    standard = base64.b64encode(data).decode()
    assert decode_base64(standard, "f") == data
    assert decode_base64("data:image/jpeg;base64," + standard, "f") == data
    assert decode_base64(base64.urlsafe_b64encode(data).decode().rstrip("="), "f") == data
    wrapped = "\n".join(standard[i : i + 76] for i in range(0, len(standard), 76))
    assert decode_base64(wrapped, "f") == data
    assert decode_base64("", "f") == b""  # the image decoder then says empty_file


@pytest.mark.parametrize("value, expected", [
    (None, None), (0.5, 0.5), (1, 1.0), (-1, -1.0), ("0.3", 0.3), (bytearray(b"-0.2"), -0.2),
])
def test_threshold_accepted(value, expected):
    assert parse_threshold(value) == expected


@pytest.mark.parametrize("value", [
    "abc", "", "nan", "inf", "-inf", 1.0001, -1.5, math.nan, math.inf, True, [0.5], {"v": 1},
    bytearray(b"0,5"), "1e400", 10**400,
])
def test_threshold_rejected(value):
    assert code_of(parse_threshold, value) == "invalid_threshold"


def test_a_test_field_sent_as_text_is_that_photo_s_own_error():
    """The request stands; the handler answers the field in its result."""
    parsed = parse_verify({"reference": PHOTO, "test_1": {"json": 1}, "test_2": PHOTO}, 32)
    assert [p.name for p in parsed.tests] == ["test_1", "test_2"]
    assert parsed.tests[0].error.code == "not_an_image" and "test_1" in parsed.tests[0].error.message
    assert parsed.tests[1].error is None


def one_photo(request_) -> bytes:
    parsed = parse_embed(request_, 32)
    assert not parsed.many and len(parsed.photos) == 1
    return parsed.photos[0].data


def test_embed_inputs():
    assert one_photo({"image": PHOTO}) == bytes(PHOTO)
    assert one_photo({"body": bytearray(b"\xff\xd8raw")}) == b"\xff\xd8raw"
    assert one_photo({"data": bytearray(b"raw")}) == b"raw"
    assert one_photo({"body": {"image": b64(b"img")}}) == b"img"
    assert one_photo({"body": bytearray(b' {"image": "%s"}' % b64(b"img").encode())}) == b"img"


def test_embed_many_photos_in_number_order():
    parsed = parse_embed({"image_10": bytearray(b"ten"), "image_2": bytearray(b"two"), "image_1": "text"}, 32)
    assert parsed.many and [p.name for p in parsed.photos] == ["image_1", "image_2", "image_10"]
    assert [p.data for p in parsed.photos[1:]] == [b"two", b"ten"]
    assert parsed.photos[0].error.code == "not_an_image"  # that photo's own error; the others stand
    parsed = parse_embed({"body": {"images": [b64(b"a"), b64(b"b")]}}, 32)
    assert parsed.many and [(p.name, p.data) for p in parsed.photos] == [("image_1", b"a"), ("image_2", b"b")]


@pytest.mark.parametrize("request_, code", [
    ({"image_3": PHOTO}, "too_many_photos"),
    ({"body": {"images": [b64(b"a")] * 3}}, "too_many_photos"),
    ({"image": PHOTO, "image_1": PHOTO}, "unknown_field"),  # one photo or many, not both
    ({"body": {"image": b64(b"a"), "images": [b64(b"a")]}}, "unknown_field"),
    ({"body": {"images": []}}, "missing_image"),
    ({"body": {"images": b64(b"a")}}, "malformed_json"),
    ({"image_0": PHOTO}, "unknown_field"),
])
def test_embed_many_errors(request_, code):
    assert code_of(lambda r: parse_embed(r, 2), request_) == code


@pytest.mark.parametrize("request_, code", [
    ({}, "missing_image"),
    ({"body": {}}, "missing_image"),
    ({"body": bytearray()}, "missing_image"),  # an empty POST
    ({"body": ""}, "missing_image"),
    ({"photo": PHOTO}, "unknown_field"),
    ({"image": PHOTO, "extra": PHOTO}, "unknown_field"),
    ({"body": {"image": "%%"}}, "invalid_base64"),
    ({"body": bytearray(b"{broken")}, "malformed_json"),
    ({"image": "text"}, "not_an_image"),
])
def test_embed_errors(request_, code):
    assert code_of(lambda r: parse_embed(r, 32), request_) == code


def test_every_error_code_has_a_status():
    assert all(400 <= status < 600 for status in ERROR_STATUS.values())
    assert RequestError("too_many_photos", "x").status == 413
    assert RequestError("too_many_photos", "x").to_json() == {"error": "too_many_photos", "message": "x"}


def test_settings_defaults_are_the_model_config_yaml():
    shipped = yaml_module.safe_load((Path(__file__).resolve().parents[2] / "handler/model-config.yaml").read_text())
    assert Settings.load() == Settings.load(shipped)  # one set of values: the yaml's
    assert set(shipped["handler"]) == {field.name for field in dataclasses.fields(Settings)}


def test_settings_defaults_yaml_and_env():
    yaml = {"handler": {"max_tests": 4, "max_faces": 2, "mode": "embed"}, "batchSize": 1}
    loaded = Settings.load(yaml, {"FACE_MAX_TESTS": "8", "FACE_MAX_PIXELS": "1000"})
    assert (loaded.max_tests, loaded.max_faces, loaded.max_pixels, loaded.mode) == (8, 2, 1000, "embed")
    assert Settings().mode_for("face-embed") == "embed"
    assert Settings().mode_for("face-verify") == "verify"
    assert Settings(mode="verify").mode_for("face-embed") == "verify"
    engine = Settings.load({"handler": {"engine": "onnxruntime"}}, {"FACE_PRECISION": "f32"})
    assert (engine.engine, engine.precision) == ("onnxruntime", "f32")


@pytest.mark.parametrize("yaml, env", [
    ({"handler": {"max_tests": 0}}, {}),
    ({"handler": {"max_faces": "many"}}, {}),
    ({}, {"FACE_MAX_PIXELS": "-5"}),
    ({"handler": {"mode": "detect"}}, {}),
    ({"handler": {"engine": "tensorrt"}}, {}),
    ({}, {"FACE_PRECISION": "int4"}),
    ({"handler": {"flip": True}}, {}),  # a model fact: the weights say it
])
def test_settings_rejects_bad_values(yaml, env):
    with pytest.raises(ValueError):
        Settings.load(yaml, env)


field_names = st.one_of(
    st.sampled_from(["reference", "threshold", "test_1", "test_2", "test_32", "test_33", "body", "data",
                     "image", "image_1", "image_33", "images"]),
    st.text(max_size=12),
)
field_values = st.one_of(
    st.binary(max_size=64).map(bytearray), st.text(max_size=20), st.none(), st.integers(),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(field_names, field_values, max_size=5))
def test_any_request_parses_or_fails_cleanly(request_):
    for call in (lambda: parse_verify(request_, 32), lambda: parse_embed(request_, 32)):
        try:
            call()
        except RequestError as error:
            assert error.code in ERROR_STATUS and error.status < 500
