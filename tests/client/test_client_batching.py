"""Any number of photos against the stub: requests within the limits, merged in order, a
photo the server could not use named by its file, the server's own limit followed."""
from __future__ import annotations

import email.parser
import email.policy
import json
import re

import pytest
from stub_http import photo_error, sample_verification

from client import FaceClient, PhotoInputError
from client.batching import chunks, server_limit


def fields_of(recorded) -> list[str]:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + recorded.headers["Content-Type"].encode() + b"\r\n\r\n" + recorded.body)
    return [part.get_param("name", header="content-disposition") for part in message.iter_parts()]


def answer(names: list[str], errors: dict[str, dict] | None = None) -> dict:
    """A verify answer for the fields sent: every photo without a face but the errors."""
    body = sample_verification(1)
    body["results"] = [(errors or {}).get(name) or {"name": name, "match": False, "score": None, "box": None,
                                                    "faces": 0, "detections": [], "error": None}
                       for name in names]
    return body


@pytest.fixture
def folder(tmp_path):
    paths = []
    for i in range(70):
        path = tmp_path / f"photo_{i:02d}.jpg"
        path.write_bytes(b"\xff\xd8\xff" + bytes([i]) * 100)
        paths.append(path)
    return paths


def test_seventy_photos_go_in_three_requests_and_come_back_in_order(stub, folder):
    stub.add(200, answer([f"test_{i}" for i in range(1, 33)], {"test_5": photo_error("test_5")}))
    stub.add(200, answer([f"test_{i}" for i in range(1, 33)]))
    stub.add(200, answer([f"test_{i}" for i in range(1, 7)], {"test_6": photo_error("test_6", "image_too_large",
                                                                                    "12000 x 9000 is over 40 MP")}))
    seen = []
    with FaceClient(stub.url, token="t") as client:
        result = client.verify(folder[0], folder,
                               progress=lambda done, total: seen.append((done, total)))
    assert [len([f for f in fields_of(r) if f.startswith("test_")]) for r in stub.requests] == [32, 32, 6]
    assert all(fields_of(r)[0] == "reference" for r in stub.requests)
    assert seen == [(32, 70), (64, 70), (70, 70)]
    assert [r.name for r in result.results] == [f"test_{i}" for i in range(1, 71)]
    assert [r.name for r in result.errors] == ["test_5", "test_70"]
    assert result.errors[0].error.message == f"{folder[4]}: not in a known format"
    assert result.errors[1].error.message == f"{folder[69]}: 12000 x 9000 is over 40 MP"
    assert result.errors[1].error.code == "image_too_large" and result.errors[1].match is None
    assert len(result.non_matches) == 68 and not result.errors[0].ok


def test_the_server_s_stated_limit_is_followed(stub, folder):
    stub.add(413, {"error": "too_many_photos",
                   "message": "test_9: test photos are test_1 ... test_8 (at most 8 per request)"})
    for size in (8, 2):
        stub.add(200, answer([f"test_{i}" for i in range(1, size + 1)]))
    with FaceClient(stub.url, token="t") as client:
        result = client.verify(folder[0], folder[:10])
        assert client.max_tests_per_request == 8
    assert [len(fields_of(r)) - 1 for r in stub.requests] == [10, 8, 2]
    assert [r.name for r in result.results] == [f"test_{i}" for i in range(1, 11)]


def test_byte_budget_splits_and_a_photo_too_large_alone_is_not_sent(stub, tmp_path):
    small = [tmp_path / f"s{i}.jpg" for i in range(3)]
    for path in small:
        path.write_bytes(b"\xff\xd8\xff" + b"x" * 3000)
    huge = tmp_path / "huge.jpg"
    huge.write_bytes(b"\xff\xd8\xff" + b"x" * 20_000)
    stub.add(200, answer(["test_1"])).add(200, answer(["test_1"]))  # one small photo per request
    with FaceClient(stub.url, token="t", max_request_bytes=9000) as client:
        result = client.verify(small[0], [small[1], huge, small[2]])
    assert len(stub.requests) == 2  # the huge photo travelled nowhere
    assert [r.error.code if r.error else None for r in result.results] == [None, "request_too_large", None]
    assert str(huge) in result.results[1].error.message


def test_a_reference_refused_is_named_by_its_file(stub, folder):
    stub.add(422, {"error": "no_face_in_reference", "message": "reference: no face found in the photo"})
    with FaceClient(stub.url, token="t") as client, pytest.raises(Exception) as info:
        client.verify(folder[3], folder[:2])
    assert info.value.code == "no_face_in_reference"
    assert str(folder[3]) in str(info.value)


def test_photos_without_paths_are_named_by_position(stub):
    stub.add(200, answer(["test_1", "test_2"], {"test_2": photo_error("test_2", "truncated_image", "cut short")}))
    with FaceClient(stub.url, token="t") as client:
        result = client.verify(b"\xff\xd8\xffR", [b"\xff\xd8\xffA", b"\xff\xd8\xffB"])
    assert result.results[1].error.message == "tests[1]: cut short"


def test_chunks_keep_order_and_limits(tmp_path):
    photos = [b"\xff\xd8\xff" + b"x" * n for n in (10, 10, 10, 5000, 10)]
    groups = list(chunks(photos, "jpeg", max_tests=2, budget=3000))
    assert [[item.index for item in group] for group in groups] == [[0, 1], [2], [3], [4]]
    assert groups[2][0].part is None and groups[0][0].label == "tests[0]"
    with pytest.raises(PhotoInputError):
        list(chunks([tmp_path / "missing.jpg"], "jpeg", 32, None))


def test_server_limit_is_read_from_its_message():
    assert server_limit("test_33: test photos are test_1 ... test_32 (at most 32 per request)") == 32
    assert server_limit("'tests' has 40 photos; at most 8 per request") == 8
    assert server_limit("something else") is None


def test_json_output_is_compact(stub, folder, tmp_path, capsys):
    from client.cli import main

    body = answer(["test_1"])
    body["results"][0] = sample_verification(1)["results"][0]
    stub.add(200, body)
    out = tmp_path / "out.json"
    assert main(["verify", str(folder[0]), str(folder[1]), "--url", stub.url, "--token", "t",
                 "--json", str(out)]) == 0
    text = out.read_text()
    assert '"box": [10.0, 20.0, 80.0, 96.0]' in text
    assert json.loads(text)["results"][0]["detections"][1]["box"][0] == 0.0
    table = capsys.readouterr().out
    assert "[0, 5, 30, 36]" not in table  # the table shows the best box
    assert not re.search(r"(?<![\w-])-0(?![\w.])", table)  # no "-0" number (paths like pytest-0 are fine)


def embed_answer(names: list[str], errors: dict[str, dict] | None = None) -> dict:
    """A many-photo face-embed answer for the fields sent: no faces but the errors."""
    return {"model": "face-embed 1.0", "threshold": 0.3, "photos": [
        {"name": name, "faces": [], "error": (errors or {}).get(name)} for name in names]}


def test_embed_many_splits_follows_the_limit_and_names_files(stub, folder, tmp_path):
    huge = tmp_path / "huge.jpg"
    huge.write_bytes(b"\xff\xd8\xff" + b"x" * 20_000)
    stub.add(413, {"error": "too_many_photos",
                   "message": "image_5: photos are image_1 ... image_4 (at most 4 per request)"})
    stub.add(200, embed_answer([f"image_{i}" for i in range(1, 5)],
                               {"image_2": {"code": "not_an_image", "message": "image_2: not in a known format"}}))
    stub.add(200, embed_answer(["image_1"]))
    done = []
    with FaceClient(stub.url, token="t", max_tests_per_request=10, max_request_bytes=10_000) as client:
        batch = client.embed_many([*folder[:5], huge], progress=lambda d, t: done.append((d, t)))
        assert client.max_tests_per_request == 4
    assert [fields_of(r) for r in stub.requests] == [[f"image_{i}" for i in range(1, 6)],
                                                     [f"image_{i}" for i in range(1, 5)], ["image_1"]]
    assert [p.name for p in batch.photos] == [f"image_{i}" for i in range(1, 7)]
    assert batch.photos[1].error.message == f"{folder[1]}: not in a known format"
    assert batch.photos[5].error.code == "request_too_large" and str(huge) in batch.photos[5].error.message
    assert [p.ok for p in batch.photos] == [True, False, True, True, True, False]
    assert done == [(5, 6), (6, 6)] and batch.model == "face-embed 1.0"
