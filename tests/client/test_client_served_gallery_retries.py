"""The served gallery's retries against a scripted server (stub_http.py): what a restarting
gallery worker answers (503, "Worker died", a refused connection) is ride over for the
idempotent calls, a request error is raised at once, 409 model_mismatch is the gallery's
ModelMismatchError, and a removal is not sent again. Against the real service:
test_client_served_gallery.py."""
from __future__ import annotations

import json

import pytest
from stub_http import Answer

from client import FaceClient
from client.errors import BadInputError, ServerUnavailableError
from client.gallery import Gallery, GalleryError, ModelMismatchError

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
FOUND = {"model": "face-embed:v1", "threshold": 0.45, "embeddings": 3, "gallery": "staff", "faces": [
    {"box": [1, 2, 3, 4], "confidence": 0.9, "identity": "Ada", "score": 0.8, "false_match_rate": 0.0001,
     "candidates": [{"name": "Ada", "score": 0.8, "photo": "image_1-abc.jpg"}]}]}
UNAVAILABLE = Answer(503, {"code": 503, "type": "ServiceUnavailableException", "message": "No worker is available"})
DIED = Answer(500, {"code": 500, "type": "InternalServerException", "message": "Worker died."})


@pytest.fixture
def gallery(stub):
    client = FaceClient(stub.url, token="key", retries=0, backoff=0.01)
    with Gallery(client=client, name="staff", restart_wait=5) as served:
        yield served
    client.close()


def test_identify_rides_over_a_restarting_worker(stub, gallery):
    stub.answers.extend([UNAVAILABLE, DIED, UNAVAILABLE, Answer(200, FOUND)])
    found = gallery.identify(JPEG, false_identification_rate=0.05)
    assert found.identities == ["Ada"] and found.faces[0].candidates[0].photo == "image_1-abc.jpg"
    assert len(stub.requests) == 4 and all(r.path == "/predictions/face-gallery" for r in stub.requests)
    body = stub.requests[-1].body
    assert b'name="gallery"\r\n\r\nstaff' in body and b'name="false_identification_rate"\r\n\r\n0.05' in body
    assert stub.requests[-1].headers["Authorization"] == "Bearer key"


def test_search_sends_embeddings_and_gives_up_after_restart_wait(stub):
    from client.models import EmbeddingResult

    answer = EmbeddingResult(model="face-embed:v1", faces=[{"box": [0, 0, 5, 5], "confidence": 0.8,
                                                            "embedding": [0.6, 0.8]}])
    with FaceClient(stub.url, token="key", retries=0) as client, \
            Gallery(client=client, name="staff", restart_wait=0.6) as served:
        stub.answers.append(Answer(200, FOUND))
        assert served.search(answer, top_k=1).identities == ["Ada"]
        sent = json.loads(stub.requests[0].body)
        assert (sent["action"], sent["model"], sent["faces"][0]["embedding"], sent["top_k"]) == (
            "search", "face-embed:v1", [0.6, 0.8], 1)
        stub.default = UNAVAILABLE
        with pytest.raises(ServerUnavailableError):
            served.search(answer)
        assert 2 <= len(stub.requests) - 1 <= 5  # 0.25 s, 0.5 s, ... within 0.6 s


def test_errors_that_a_retry_cannot_mend(stub, gallery):
    stub.answers.append(Answer(400, {"error": "invalid_top_k", "message": "top_k: 0 is outside 1 ... 100"}))
    with pytest.raises(BadInputError) as caught:
        gallery.identify(JPEG)
    assert caught.value.code == "invalid_top_k" and len(stub.requests) == 1
    stub.answers.append(Answer(409, {"error": "model_mismatch", "message": "enrol them again"}))
    with pytest.raises(ModelMismatchError):
        gallery.identify(JPEG)
    stub.answers.append(UNAVAILABLE)
    with pytest.raises(ServerUnavailableError):
        gallery.remove("Ada")  # "how many were deleted" would read 0 the second time
    assert len(stub.requests) == 3


def test_what_the_served_gallery_does_not_do(stub):
    with pytest.raises(GalleryError) as caught:
        Gallery(name="../etc")
    assert caught.value.code == "invalid_gallery"
    with pytest.raises(GalleryError) as caught:
        Gallery("folder", name="staff")
    assert caught.value.code == "bad_location"
    with FaceClient(stub.url, token="key") as client, Gallery(client=client) as served:
        for call in (lambda: served.export("out.gz"), lambda: served.store, lambda: served.push("elsewhere")):
            with pytest.raises(GalleryError) as caught:
                call()
            assert caught.value.code == "not_supported"
    assert not stub.requests


def test_face_gallery_set_to_a_folder_keeps_meaning_that_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("FACE_GALLERY", str(tmp_path / "kept"))
    with Gallery() as gallery:
        assert not gallery.served and gallery.location == str(tmp_path / "kept")
    with Gallery(name="staff", client=FaceClient("http://127.0.0.1:9", token="")) as gallery:
        assert gallery.served  # an explicit name is the service's gallery
    monkeypatch.delenv("FACE_GALLERY")
    with Gallery(client=FaceClient("http://127.0.0.1:9", token="")) as gallery:
        assert gallery.served and gallery.location == "http://127.0.0.1:9/predictions/face-gallery (gallery default)"


def test_a_long_enrolment_replaces_once_then_adds(stub, gallery, tmp_path):
    photos = []
    for index in range(33):  # one more than a request carries
        photos.append(tmp_path / f"ada{index}.jpg")
        photos[-1].write_bytes(JPEG + bytes([index]))
    first = {"name": "Ada", "model": "face-embed:v1", "replaced": 2, "enrolled": ["image_1-aa.jpg"],
             "refused": [{"photo": "image_2-bb.jpg", "code": "no_face", "reason": "no face found in the photo"}]}
    second = {"name": "Ada", "model": "face-embed:v1", "replaced": 0, "enrolled": ["image_1-cc.jpg"], "refused": []}
    stub.answers.extend([UNAVAILABLE, Answer(200, first), Answer(200, second)])
    done = gallery.enroll("Ada", photos + [tmp_path / "missing.jpg"])
    assert done.enrolled == ["image_1-aa.jpg", "image_1-cc.jpg"] and done.replaced == 2
    assert [(r.photo, r.code) for r in done.refused] == [("missing.jpg", "file_not_found"), ("ada1.jpg", "no_face")]
    sent = [r.body for r in stub.requests]
    assert parts(sent[0]) == parts(sent[1])  # the same photos again: they land on the same points
    assert b'name="add"\r\n\r\nfalse' in sent[1] and b'name="add"\r\n\r\ntrue' in sent[2]
    assert sent[1].count(b'; name="image_') == 32 and sent[2].count(b'; name="image_') == 1


def parts(body: bytes) -> list[bytes]:
    """A multipart body without its boundary lines (a new boundary per request)."""
    return [line for line in body.split(b"\r\n") if not line.startswith(b"--")]
