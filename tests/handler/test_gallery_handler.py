"""face-gallery without a server: its request contract (handler/gallery_protocol.py), which
galleries it opens (handler/gallery.py, with a stand-in for the pipeline) and the false-match
rate read from a score (client/far.py). On a real TorchServe: test_gallery_server.py."""
from __future__ import annotations

import base64

import pytest

from client.errors import BadInputError
from client.far import false_match_rate, one_in
from handler.gallery import Galleries, PipelineClient, embed_label
from handler.gallery_protocol import DEFAULT_GALLERY, DEFAULT_TOP_K, GalleryRequest, parse_gallery
from handler.protocol import ERROR_STATUS, Photo, RequestError, Settings

JPEG = b"\xff\xd8\xff\xe0 a photo"
TABLE = [{"far": 0.01, "threshold": 0.26}, {"far": 0.001, "threshold": 0.35}, {"far": 0.0001, "threshold": 0.42}]


def form(**fields) -> dict:
    """What TorchServe hands the handler for a multipart form: every part as bytes."""
    return {key: bytearray(value if isinstance(value, bytes) else value.encode()) for key, value in fields.items()}


def test_a_form_enrolment():
    parsed = parse_gallery(form(action="enroll", gallery="staff", name="Ada", add="true",
                                image_2=JPEG + b"2", image_1=JPEG + b"1"), max_photos=4)
    assert (parsed.action, parsed.gallery, parsed.name, parsed.add) == ("enroll", "staff", "Ada", True)
    assert [(p.name, p.data) for p in parsed.photos] == [("image_1", JPEG + b"1"), ("image_2", JPEG + b"2")]


def test_a_json_identification_with_defaults():
    parsed = parse_gallery({"body": {"action": "identify", "image": base64.b64encode(JPEG).decode()}}, 4)
    assert (parsed.gallery, parsed.top_k, parsed.threshold, parsed.add) == (DEFAULT_GALLERY, DEFAULT_TOP_K, None, False)
    assert [(p.name, p.data) for p in parsed.photos] == [("image", JPEG)]
    parsed = parse_gallery({"body": {"action": "identify", "images": [base64.b64encode(JPEG).decode()],
                                     "top_k": 5, "threshold": 0.4}}, 4)
    assert (parsed.top_k, parsed.threshold, parsed.photos[0].name) == (5, 0.4, "image_1")


@pytest.mark.parametrize(("request_", "code"), [
    (form(action="enrol", name="Ada", image=JPEG), "invalid_action"),
    ({"body": {"gallery": "staff"}}, "invalid_action"),
    (form(action="count", gallery="a/b"), "invalid_gallery"),
    (form(action="count", gallery="x" * 65), "invalid_gallery"),
    ({"body": {"action": "count", "gallery": 7}}, "invalid_gallery"),
    (form(action="remove"), "missing_name"),
    ({"body": {"action": "remove", "name": ["Ada"]}}, "bad_name"),
    (form(action="enroll", name="Ada"), "missing_image"),
    (form(action="enroll", name="Ada", image_5=JPEG), "too_many_photos"),
    ({"body": {"action": "enroll", "name": "Ada", "images": ["AAAA"] * 5}}, "too_many_photos"),
    (form(action="identify", image_1=JPEG, image_2=JPEG), "too_many_photos"),
    (form(action="identify"), "missing_image"),
    (form(action="count", image=JPEG), "unknown_field"),
    (form(action="identify", image=JPEG, image_1=JPEG), "unknown_field"),
    ({"body": {"action": "identify", "image": "AAAA", "images": ["AAAA"]}}, "unknown_field"),
    ({"action": bytearray(b"identify"), "image": "text, not a file"}, "not_an_image"),
    ({"body": {"action": "identify", "image": "not base64!"}}, "invalid_base64"),
    (form(action="identify", image=JPEG, top_k="3.5"), "invalid_top_k"),
    (form(action="identify", image=JPEG, top_k="101"), "invalid_top_k"),
    (form(action="identify", image=JPEG, threshold="nan"), "invalid_threshold"),
    (form(action="enroll", name="Ada", image=JPEG, add="sometimes"), "invalid_add"),
    ({"body": b"action=count"}, "malformed_json"),
    ({"body": [1, 2]}, "malformed_json"),
])
def test_bad_requests(request_, code):
    with pytest.raises(RequestError) as caught:
        parse_gallery(request_, max_photos=4)
    assert caught.value.code == code and 400 <= ERROR_STATUS[code] < 500 and caught.value.message


def test_the_gallery_model_is_the_gallery_mode():
    assert Settings().mode_for("face-gallery") == "gallery"
    assert Settings().mode_for("face-embed") == "embed" and Settings().mode_for("face-verify") == "verify"
    loaded = Settings.load({"handler": {"gallery_root": "/srv/galleries"}}, {"FACE_GALLERY_ROOT": "/tmp/g"})
    assert loaded.gallery_root == "/tmp/g" and Settings.load({"handler": {"mode": "gallery"}}).mode == "gallery"


def test_false_match_rate_of_a_score():
    assert false_match_rate(0.5, TABLE) == 0.0001  # the strictest row reached
    assert false_match_rate(0.35, TABLE) == 0.001  # a threshold counts as reached
    assert false_match_rate(0.3, TABLE) == 0.01
    assert false_match_rate(0.2, TABLE) is None and false_match_rate(0.9, []) is None
    assert (one_in(0.0001), one_in(3e-05), one_in(0.01)) == ("1 in 10,000", "1 in 33,333", "1 in 100")


def fake_embed_photo(data: bytes, name: str) -> dict:
    """face-embed's answer for one face whose embedding is spelled by the photo's first bytes."""
    if not data.startswith(b"face"):
        raise RequestError("not_an_image", f"{name}: not a photo")
    vector = [1.0, 0.0] if data == b"face-a" else [0.0, 1.0]
    return {"model": "face-gallery:v1", "aliases": ["face-gallery:v0"], "threshold": 0.5, "far_thresholds": TABLE,
            "faces": [{"box": [0.0, 0.0, 10.0, 10.0], "confidence": 0.9, "embedding": vector}]}


@pytest.fixture
def galleries(tmp_path):
    owner = Galleries(tmp_path / "root", "", PipelineClient(fake_embed_photo, "face-gallery"), TABLE, max_galleries=2)
    yield owner
    owner.close()


def test_the_pipeline_answers_as_face_embed():
    client = PipelineClient(fake_embed_photo, "face-gallery")
    answer = client.embed(b"face-a")
    assert (answer.model, answer.aliases) == ("face-embed:v1", ["face-embed:v0"])
    assert embed_label("face-gallery:v1", "face-gallery") == "face-embed:v1"
    with pytest.raises(BadInputError) as caught:
        client.embed(b"cat")
    assert caught.value.code == "not_an_image"


def test_galleries_are_made_by_enrolment_only(galleries, tmp_path):
    assert not (tmp_path / "root").exists()  # nothing on disk before the first request
    with pytest.raises(RequestError) as caught:
        galleries.run(GalleryRequest("count", "staff", []))
    assert (caught.value.code, caught.value.status) == ("unknown_gallery", 404)
    empty = galleries.run(GalleryRequest("count", DEFAULT_GALLERY, []))
    assert empty == {"gallery": "default", "people": 0, "faces": 0}
    enrolled = galleries.run(GalleryRequest("enroll", "staff", [Photo("image_1", b"face-a"), Photo("image_2", b"cat")],
                                            name="Ada"))
    assert [p.split("-")[0] for p in enrolled["enrolled"]] == ["image_1"]
    assert enrolled["refused"][0]["code"] == "not_an_image"
    assert not list((tmp_path / "root").glob(".enroll-*"))  # the photos are not kept
    (face,) = galleries.run(GalleryRequest("identify", "staff", [Photo("image", b"face-a")]))["faces"]
    assert (face["identity"], face["false_match_rate"], face["false_match_odds"]) == ("Ada", 0.0001, "1 in 10,000")
    with pytest.raises(RequestError) as caught:  # default + staff: max_galleries reached
        galleries.run(GalleryRequest("enroll", "visitors", [Photo("image_1", b"face-b")], name="Bob"))
    assert (caught.value.code, caught.value.status) == ("too_many_galleries", 409)


def test_gallery_errors_become_request_errors(galleries):
    for request, code in ((GalleryRequest("enroll", "default", [Photo("image_1", b"face-a")], name="\x01"), "bad_name"),
                          (GalleryRequest("identify", "default", [Photo("image", b"cat")]), "not_an_image")):
        with pytest.raises(RequestError) as caught:
            galleries.run(request)
        assert caught.value.code == code and caught.value.status == 400


def test_a_store_held_elsewhere_is_a_503_and_a_server_holds_one_gallery(galleries, tmp_path):
    from client.gallery import Gallery

    with Gallery(tmp_path / "root" / DEFAULT_GALLERY):  # e.g. a CLI that opened the folder itself
        with pytest.raises(RequestError) as caught:
            galleries.run(GalleryRequest("people", DEFAULT_GALLERY, []))
    assert (caught.value.code, caught.value.status) == ("store_unavailable", 503)
    assert galleries.run(GalleryRequest("people", DEFAULT_GALLERY, [])) == {"gallery": "default", "people": []}

    served = Galleries(tmp_path / "unused", "http://127.0.0.1:1", galleries.client, TABLE)
    with pytest.raises(RequestError) as caught:
        served.run(GalleryRequest("count", "staff", []))
    assert caught.value.code == "unknown_gallery" and "one gallery" in caught.value.message
