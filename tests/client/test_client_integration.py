"""The client against the REAL server: TorchServe with face-verify + face-embed.

Uses the session fixture `torchserve_server` (tests/conftest.py: builds the .mar files, starts
TorchServe on free ports; `.base_url` and `.token`), shared with tests/handler/test_server.py.
Skipped without Java.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from client import AuthenticationError, BadInputError, FaceClient, VerificationResult
from client.cli import main as cli_main
from tests.conftest import iou

pytestmark = pytest.mark.integration

skimage_data = pytest.importorskip("skimage.data")


@pytest.fixture(scope="module")
def server(torchserve_server):
    return torchserve_server


@pytest.fixture(scope="module")
def client(server):
    with FaceClient(server.base_url, token=server.token, timeout=120, retries=2) as face_client:
        yield face_client


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage_data.astronaut()  # 512x512 RGB, one face


@pytest.fixture(scope="module")
def chelsea() -> np.ndarray:
    return skimage_data.chelsea()  # a cat: no human face


def test_health(client):
    assert client.health().healthy


def test_verify_contract(client, astronaut, chelsea):
    mirrored = Image.fromarray(astronaut[:, ::-1])
    result = client.verify(astronaut, [astronaut, mirrored, chelsea])
    assert isinstance(result, VerificationResult)
    assert result.model.startswith("face-verify") and -1.0 <= result.threshold <= 1.0
    ref_box = result.reference.box
    assert 0 <= ref_box[0] and 0 <= ref_box[1] and ref_box[0] + ref_box[2] <= 513 and ref_box[1] + ref_box[3] <= 513
    assert result.reference.confidence > 0.5
    same, flipped, cat = result.results
    assert [r.name for r in result.results] == ["test_1", "test_2", "test_3"]
    # the same photo: the same face, found at the same place, with a near-perfect score
    assert same.match and same.faces >= 1 and same.score > 0.95 and iou(same.box, ref_box) > 0.8
    # mirrored: still the same person, the box mirrored too
    assert flipped.match and flipped.score >= result.threshold
    x, y, w, h = flipped.box
    assert iou((512 - x - w, y, w, h), ref_box) > 0.6
    # no face: faces 0, no score, no box, no match
    assert (cat.faces, cat.score, cat.box, cat.match) == (0, None, None, False)


def test_threshold_override(client, astronaut, chelsea):
    result = client.verify(astronaut, [astronaut, chelsea], threshold=1.0)
    assert result.threshold == 1.0
    assert not result.results[1].match
    assert result.results[0].match == (result.results[0].score >= 1.0)


def test_embed_finds_the_face(client, astronaut, chelsea):
    embedded = client.embed(astronaut)
    assert embedded.model.startswith("face-embed") and len(embedded.faces) >= 1
    vector = embedded.faces[0].embedding
    assert len(vector) >= 64 and math.isclose(math.sqrt(sum(v * v for v in vector)), 1.0, abs_tol=1e-3)
    assert client.embed(chelsea).faces == []


def test_embed_many_answers_each_photo_in_order_across_requests(server, astronaut, chelsea, tmp_path):
    """Five photos in requests of two: the same faces as one `embed` each, a bad photo its own
    error naming the file, the others standing."""
    notes = tmp_path / "notes.jpg"
    notes.write_text("this is not a photo at all")
    with FaceClient(server.base_url, token=server.token, timeout=120, max_tests_per_request=2) as small:
        done = []
        batch = small.embed_many([astronaut, chelsea, notes, astronaut, chelsea],
                                 progress=lambda d, t: done.append((d, t)))
        alone = small.embed(astronaut)
    assert done == [(2, 5), (4, 5), (5, 5)]
    assert [p.name for p in batch.photos] == [f"image_{i}" for i in range(1, 6)]
    assert [len(p.faces) for p in batch.photos] == [len(alone.faces), 0, 0, len(alone.faces), 0]
    assert batch.photos[2].error.code == "not_an_image" and batch.photos[2].error.message.startswith(f"{notes}: ")
    assert [p.ok for p in batch.photos] == [True, True, False, True, True]
    assert batch.result(3).faces[0].box == alone.faces[0].box and batch.result(3).threshold == alone.threshold
    pairs = zip(batch.photos[0].faces[0].embedding, alone.faces[0].embedding, strict=False)
    assert math.isclose(sum(a * b for a, b in pairs), 1.0, abs_tol=1e-4)


def test_a_bad_test_photo_is_its_own_error_naming_the_file(client, astronaut, tmp_path):
    notes = tmp_path / "notes.jpg"
    notes.write_text("this is not a photo at all")
    result = client.verify(astronaut, [astronaut, notes])
    good, bad = result.results
    assert good.match and good.error is None
    assert bad.error.code == "not_an_image" and bad.error.message.startswith(f"{notes}: ")
    assert bad.match is None and result.errors == [bad]


def test_a_bad_reference_is_bad_input_naming_the_file(client, astronaut, tmp_path):
    notes = tmp_path / "notes.jpg"
    notes.write_text("this is not a photo at all")
    with pytest.raises(BadInputError) as info:
        client.verify(notes, [astronaut])
    assert info.value.code == "not_an_image" and 400 <= info.value.status < 500
    assert str(notes) in info.value.message


def test_reference_without_a_face(client, astronaut, chelsea):
    with pytest.raises(BadInputError) as info:
        client.verify(chelsea, [astronaut])
    assert info.value.code == "no_face_in_reference"


def test_more_photos_than_a_request_takes_are_split_and_merged_in_order(server, astronaut, chelsea):
    """40 photos with a client that assumes the server takes 40 per request: the server's
    too_many_photos answer states its limit (32) and the client follows it."""
    tests = [astronaut if i % 5 == 0 else chelsea for i in range(40)]
    seen = []
    with FaceClient(server.base_url, token=server.token, timeout=120) as default:
        result = default.verify(astronaut, tests, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(32, 40), (40, 40)]
    assert [r.name for r in result.results] == [f"test_{i}" for i in range(1, 41)]
    assert [r.match for r in result.results] == [i % 5 == 0 for i in range(40)]
    with FaceClient(server.base_url, token=server.token, timeout=120, max_tests_per_request=40) as greedy:
        assert greedy.verify(astronaut, tests) == result
        assert greedy.max_tests_per_request == 32


@pytest.mark.parametrize("token", ["", "wrong-token"], ids=["no-token", "wrong-token"])
def test_no_or_wrong_token_is_refused(server, astronaut, token):
    with FaceClient(server.base_url, token=token, retries=0) as anonymous:
        with pytest.raises(AuthenticationError):
            anonymous.verify(astronaut, [astronaut])
        with pytest.raises(AuthenticationError):
            anonymous.health()


def test_cli_against_the_server(server, astronaut, chelsea, tmp_path, capsys):
    ref, cat = tmp_path / "astronaut.png", tmp_path / "chelsea.jpg"
    Image.fromarray(astronaut).save(ref)
    Image.fromarray(chelsea).save(cat)
    code = cli_main(["verify", str(ref), str(ref), str(cat), "--url", server.base_url, "--token", server.token])
    out = capsys.readouterr().out
    assert code == 0 and "matched 1 of 2" in out


def test_oversized_request_is_bad_input_not_a_dead_server(client):
    # TorchServe refuses bodies over max_request_size (config.properties) before the handler.
    with pytest.raises(BadInputError) as info:
        client.verify(b"\xff\xd8\xff" + b"\0" * (33 * 1024 * 1024), [b"\xff\xd8\xff"])
    assert info.value.status == 413
