"""face-gallery's actions on faces embedded elsewhere, without a server: `search` (a video
frame's faces), `store` (a folder's photos or another gallery's points, as embeddings) and
`stored` (what a bulk enrolment resumes by); their request contract and the model check. On a
real TorchServe: tests/client/test_client_served_gallery.py."""
from __future__ import annotations

import math

import pytest

from handler.gallery import Galleries, PipelineClient
from handler.gallery_protocol import MAX_ITEMS, parse_gallery
from handler.protocol import RequestError

TABLE = [{"far": 0.01, "threshold": 0.26}, {"far": 0.001, "threshold": 0.35}, {"far": 0.0001, "threshold": 0.42}]
SHA = "ab" * 32


def fake_embed_photo(data: bytes, name: str) -> dict:
    """face-embed's answer: one face for b"face", none for anything else (the worker's blank photo)."""
    faces = [{"box": [0.0, 0.0, 10.0, 10.0], "confidence": 0.9, "embedding": [1.0, 0.0]}] if data == b"face" else []
    return {"model": "face-gallery:v1", "aliases": ["face-gallery:v0"], "threshold": 0.5, "far_thresholds": TABLE,
            "faces": faces}


@pytest.fixture
def galleries(tmp_path):
    owner = Galleries(tmp_path / "root", "", PipelineClient(fake_embed_photo, "face-gallery"), TABLE)
    yield owner
    owner.close()


def run(galleries: Galleries, body: dict) -> dict:
    return galleries.run(parse_gallery({"body": body}, max_photos=4))


def unit(angle: float) -> list[float]:
    return [math.cos(angle), math.sin(angle)]


def test_store_then_search_then_stored(galleries):
    stored = run(galleries, {"action": "store", "gallery": "staff", "model": "face-embed:v1", "faces": [
        {"name": "Ada", "photo": "ada1.jpg", "sha256": SHA, "embedding": unit(0.0)},
        {"name": "Bob", "photo": "bob1.jpg", "sha256": None, "embedding": unit(1.5)}]})
    assert stored == {"gallery": "staff", "model": "face-embed:v1", "stored": 2, "replaced": 0}
    found = run(galleries, {"action": "search", "gallery": "staff", "model": "face-embed:v1", "top_k": 2, "faces": [
        {"box": [1, 2, 3, 4], "confidence": 0.8, "embedding": unit(0.1)},
        {"box": [5, 6, 7, 8], "confidence": 0.7, "embedding": unit(3.0)}]})
    assert [face["identity"] for face in found["faces"]] == ["Ada", None]
    assert found["threshold"] >= 0.5 and found["embeddings"] == 2 and found["model"] == "face-embed:v1"
    assert found["faces"][0]["false_match_rate"] == 0.0001 and found["faces"][0]["box"] == [1.0, 2.0, 3.0, 4.0]
    looked_up = run(galleries, {"action": "stored", "gallery": "staff", "photos": [
        {"name": "Ada", "photo": "ada1.jpg"}, {"name": "Bob", "photo": "bob1.jpg"}, {"name": "Ada", "photo": "x.jpg"}]})
    assert [(p["stored"], p["sha256"]) for p in looked_up["photos"]] == [(True, SHA), (True, None), (False, None)]
    # stored again: the same points (person + photo name), not copies
    run(galleries, {"action": "store", "gallery": "staff", "model": "face-embed:v0", "faces": [
        {"name": "Ada", "photo": "ada1.jpg", "sha256": SHA, "embedding": unit(0.2)}]})
    assert run(galleries, {"action": "count", "gallery": "staff"}) == {"gallery": "staff", "people": 2, "faces": 2}


def test_another_model_is_refused(galleries):
    for action, face in (("store", {"name": "Ada", "photo": "a.jpg", "embedding": unit(0.0)}),
                         ("search", {"box": [0, 0, 1, 1], "confidence": 1.0, "embedding": unit(0.0)})):
        with pytest.raises(RequestError) as caught:
            run(galleries, {"action": action, "model": "face-embed:v2", "faces": [face]})
        assert (caught.value.code, caught.value.status) == ("model_mismatch", 409)
    assert run(galleries, {"action": "count"})["faces"] == 0


@pytest.mark.parametrize(("body", "code"), [
    ({"action": "store", "faces": [{"name": "A", "photo": "a", "embedding": [1.0]}]}, "missing_model"),
    ({"action": "store", "model": "m", "faces": [{"name": "A", "photo": "a", "embedding": [2.0, 0.0]}]},
     "bad_embedding"),
    ({"action": "store", "model": "m", "faces": [{"name": "A", "photo": "a", "embedding": [1.0, "x"]}]},
     "bad_embedding"),
    ({"action": "store", "model": "m", "faces": [{"name": "A", "photo": "a", "embedding": [1.0]},
                                                 {"name": "B", "photo": "b", "embedding": [1.0, 0.0]}]},
     "bad_embedding"),
    ({"action": "store", "model": "m", "faces": [{"name": "A", "photo": "", "embedding": [1.0]}]}, "bad_photo_name"),
    ({"action": "store", "model": "m", "faces": [{"name": "A", "photo": "a", "sha256": "x", "embedding": [1.0]}]},
     "bad_sha256"),
    ({"action": "store", "model": "m", "faces": [{"photo": "a", "embedding": [1.0]}]}, "bad_name"),
    ({"action": "search", "model": "m", "faces": [{"box": [0, 0, 1], "embedding": [1.0]}]}, "bad_box"),
    ({"action": "search", "model": "m", "faces": "all"}, "malformed_json"),
    ({"action": "stored", "photos": [{"name": "A", "photo": "a"}] * (MAX_ITEMS + 1)}, "too_many_photos"),
    ({"action": "stored", "faces": []}, "unknown_field"),
    ({"action": "count", "model": "m"}, "unknown_field"),
])
def test_bad_embedded_requests(body, code):
    with pytest.raises(RequestError) as caught:
        parse_gallery({"body": body}, max_photos=4)
    assert caught.value.code == code and 400 <= caught.value.status < 500 and caught.value.message


def test_embeddings_are_json_only():
    with pytest.raises(RequestError) as caught:
        parse_gallery({"action": bytearray(b"stored")}, max_photos=4)
    assert caught.value.code == "malformed_json"
