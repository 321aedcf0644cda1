"""face-embed's boxes-only requests (`embeddings` false): the faces' boxes and confidences as
a full request finds them, the network not run, for one photo and for many; the option's
parsing and its refusals."""
from __future__ import annotations

import base64

import pytest

from handler.protocol import ERROR_STATUS, RequestError, parse_embed
from tests.handler.test_face_handler import count_network_runs

PHOTO = bytearray(b"\xff\xd8 not checked here")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.mark.parametrize("request_, expected", [
    ({"image": PHOTO}, True),
    ({"image": PHOTO, "embeddings": bytearray(b"false")}, False),
    ({"image": PHOTO, "embeddings": bytearray(b"True")}, True),
    ({"image_1": PHOTO, "embeddings": bytearray(b"0")}, False),
    ({"body": {"image": b64(b"a"), "embeddings": False}}, False),
    ({"body": {"images": [b64(b"a")], "embeddings": "no"}}, False),
    ({"body": bytearray(b"\xff\xd8raw")}, True),
])
def test_the_option_is_parsed(request_, expected):
    assert parse_embed(request_, 32).embeddings is expected


@pytest.mark.parametrize("request_", [
    {"image": PHOTO, "embeddings": bytearray(b"maybe")},
    {"body": {"image": b64(b"a"), "embeddings": 2}},
])
def test_a_bad_value_is_refused(request_):
    with pytest.raises(RequestError) as caught:
        parse_embed(request_, 32)
    assert caught.value.code == "invalid_embeddings" and ERROR_STATUS["invalid_embeddings"] == 400


def test_boxes_only_finds_the_same_faces_without_the_network(embed, photo_bytes, monkeypatch):
    full, _ = embed.one({"image": bytearray(photo_bytes["group"])})
    calls = count_network_runs(monkeypatch, embed.handler.embedder)
    boxes, status = embed.one({"image": bytearray(photo_bytes["group"]), "embeddings": bytearray(b"false")})
    assert status == 200 and calls == []
    assert [(f["box"], f["confidence"]) for f in boxes["faces"]] == [(f["box"], f["confidence"]) for f in full["faces"]]
    assert len(boxes["faces"]) == 2 and all(f["embedding"] == [] for f in boxes["faces"])
    assert boxes["threshold"] == full["threshold"] and boxes["model"] == full["model"]
    many, status = embed.one({"image_1": bytearray(photo_bytes["astronaut"]), "image_2": bytearray(b"GIF89a bad"),
                              "embeddings": bytearray(b"false")})
    assert status == 200 and calls == []
    assert [len(p["faces"]) for p in many["photos"]] == [1, 0] and many["photos"][1]["error"]["code"] == "not_an_image"
    assert many["photos"][0]["faces"][0]["embedding"] == []


def test_boxes_only_says_how_the_photo_was_detected(embed, photo_bytes):
    """The detector's settings ride along (one photo), and another YuNet set up with them
    finds the same faces in the decoded photo."""
    from client.models import DetectorSettings
    from client.video.detection import LocalDetector
    from model.image_io import decode_image

    data = photo_bytes["group"]
    answer, status = embed.one({"image": bytearray(data), "embeddings": bytearray(b"false")})
    assert status == 200
    image = decode_image(data)
    settings = DetectorSettings(**answer["detector"])
    assert settings.model == "face_detection_yunet_2023mar_int8bq.onnx" and settings.max_faces >= 1
    assert settings.scale <= 1.0 and settings.input_size[0] <= image.shape[1]
    local = LocalDetector.for_frames(settings, (image.shape[1], image.shape[0]))
    assert local is not None
    found = local.detect(image[:, :, ::-1].copy())  # the detector takes RGB frames
    assert [f.box for f in found] == [tuple(f["box"]) for f in answer["faces"]]
    full, _ = embed.one({"image": bytearray(data)})
    assert "detector" not in full  # only boxes-only answers carry it
