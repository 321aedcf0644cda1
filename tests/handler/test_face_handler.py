"""The handler's steps on real photos, without a server: initialize, preprocess (decode,
detect, align), inference (one batched forward), postprocess (scores, JSON, statuses)."""
from __future__ import annotations

import base64
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handler.protocol import ERROR_STATUS, PHOTO_ERRORS
from model.embedder import ModelFacts, load_backbone
from tests.handler.conftest import FAR_THRESHOLDS

REPO = Path(__file__).resolve().parents[2]


def near(box, expected, tolerance: float = 0.08) -> bool:
    """Boxes agree to `tolerance` of the face size (plus 3 px)."""
    slack = tolerance * max(expected[2], expected[3]) + 3
    return all(abs(a - b) <= slack for a, b in zip(box, expected, strict=False))


def moved(box, dx: float, dy: float, scale: float = 1.0):
    x, y, w, h = box
    return (x * scale + dx, y * scale + dy, w * scale, h * scale)


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ---------------------------------------------------------------- initialize


def test_initialize_with_committed_weights(make_server, committed_model_dir):
    handler = make_server(committed_model_dir).handler
    backbone, meta = load_backbone(committed_model_dir / "face_embedder.pt")
    assert handler.initialized and handler.mode == "verify"
    # served: the FAR table's row for the fitted rate (4 decimals, never below the fitted value)
    assert float(meta["threshold"]) <= handler.threshold < float(meta["threshold"]) + 1e-4
    assert {"far": meta["threshold_far"], "threshold": handler.threshold} in meta["far_thresholds"]
    assert handler.embedder.flip is meta["flip"]
    # served under the hash of its tensors; the name stored with the weights stays an alias
    assert handler.label == f"face-verify:{ModelFacts.of(meta, backbone.state_dict()).version}"
    assert f"face-verify:{meta['version']}" in [handler.label, *handler.aliases]
    assert handler.settings.max_tests == 32 and handler.settings.max_faces == 16
    # one forward pass even for a full request: every face of 1 + 32 photos fits a batch
    assert handler.embedder.batch_size >= 33 * 16


def test_initialize_reads_model_config_and_name(make_server, feature_model_dir):
    server = make_server(feature_model_dir, name="face-embed",
                         yaml={"handler": {"max_tests": 3, "max_faces": 2}})
    assert server.handler.mode == "embed"
    assert (server.handler.settings.max_tests, server.handler.settings.max_faces) == (3, 2)


def test_initialize_builds_the_configured_engine(make_server, feature_model_dir, photo_bytes):
    from model.embedder import FaceEmbedder
    from model.onnx_embedder import OnnxEmbedder

    request = {"reference": bytearray(photo_bytes["astronaut"]), "test_1": bytearray(photo_bytes["shifted"])}
    scores = []
    for engine, kind in (("openvino", OnnxEmbedder), ("onnxruntime", OnnxEmbedder), ("torch", FaceEmbedder)):
        server = make_server(feature_model_dir, yaml={"handler": {"engine": engine, "precision": "f32"}})
        assert isinstance(server.handler.embedder, kind) and server.handler.embedder.flip is False  # the weights' flip
        response, status = server.one(dict(request))
        assert status == 200
        scores.append(response["results"][0]["score"])
    assert max(scores) - min(scores) < 1e-4  # the engines agree


def test_the_weights_decide_flip_fusion_and_the_served_threshold(make_server, feature_model_dir, tmp_path):
    from model.embedder import load_backbone, save_checkpoint

    backbone, meta = load_backbone(feature_model_dir / "face_embedder.pt")
    save_checkpoint(tmp_path / "face_embedder.pt", backbone, **(meta | {
        "flip": True, "threshold": 0.29995, "threshold_far": 0.001,
        "far_thresholds": [{"far": 0.01, "threshold": 0.25}, {"far": 0.001, "threshold": 0.3}]}))
    server = make_server(tmp_path, yaml={"handler": {"engine": "onnxruntime"}})
    assert server.handler.embedder.flip is True
    assert server.handler.threshold == 0.3  # the FAR table's row (4 decimals), not the exact 0.29995
    with pytest.raises(ValueError, match="flip"):
        make_server(feature_model_dir, yaml={"handler": {"flip": True}})  # no longer a server knob


def test_handler_uses_the_detector_file_in_the_model_dir(make_server, feature_model_dir, tmp_path):
    from model.detection import yunet_model_path

    (tmp_path / "face_embedder.pt").write_bytes((feature_model_dir / "face_embedder.pt").read_bytes())
    (tmp_path / "face_detection_yunet_copy.onnx").write_bytes(yunet_model_path().read_bytes())
    handler = make_server(tmp_path).handler
    assert handler.pipeline.detector.model_path == str(tmp_path / "face_detection_yunet_copy.onnx")


# ---------------------------------------------------------------- preprocess


def test_preprocess_finds_the_reference_face(verify, photo_bytes, astronaut_box):
    (item,) = verify.handler.preprocess([{"reference": bytearray(photo_bytes["astronaut"])}])
    (reference,) = item["photos"]
    assert reference["name"] == "reference" and len(reference["faces"]) == 1
    found = reference["faces"][0]
    assert near(found.face.box, astronaut_box)
    assert found.face.confidence > 0.8
    assert found.crop.shape == (112, 112, 3) and found.crop.dtype == np.uint8


def test_preprocess_reference_keeps_only_its_largest_face(verify, photo_bytes):
    (item,) = verify.handler.preprocess([{"reference": bytearray(photo_bytes["group"])}])
    assert len(item["photos"][0]["faces"]) == 1


def test_preprocess_counts_faces_and_maps_boxes_to_the_photo(verify, photo_bytes, astronaut_box):
    request = {"reference": bytearray(photo_bytes["astronaut"]),
               "test_1": bytearray(photo_bytes["group"]),
               "test_2": bytearray(photo_bytes["shifted"]),
               "test_3": bytearray(photo_bytes["big_group"]),
               "test_4": bytearray(photo_bytes["cat"])}
    (item,) = verify.handler.preprocess([request])
    by_name = {photo["name"]: photo["faces"] for photo in item["photos"]}
    assert [len(by_name[f"test_{i}"]) for i in range(1, 5)] == [2, 1, 2, 0]
    boxes = [f.face.box for f in by_name["test_1"]]
    assert any(near(b, moved(astronaut_box, 40, 150, 0.75), 0.1) for b in boxes)
    assert near(by_name["test_2"][0].face.box, moved(astronaut_box, 230, 120))
    # big_group is 2400 px wide: detection runs on a downscaled copy, boxes come back full size
    big = [f.face.box for f in by_name["test_3"]]
    assert any(near(b, moved(astronaut_box, 1500, 700, 1.5), 0.12) for b in big)


def test_preprocess_caps_faces_per_photo(make_server, feature_model_dir, photo_bytes):
    server = make_server(feature_model_dir, yaml={"handler": {"max_faces": 1}})
    response, status = server.one({"reference": bytearray(photo_bytes["astronaut"]),
                                   "test_1": bytearray(photo_bytes["group"])})
    assert status == 200 and response["results"][0]["faces"] == 1


# ---------------------------------------------------------------- inference


def count_network_runs(monkeypatch, embedder) -> list[int]:
    """The batch size of every run of the embedding network through the served engine."""
    calls, run = [], embedder.run
    monkeypatch.setattr(embedder, "run", lambda images: calls.append(images.shape[0]) or run(images))
    return calls


def test_inference_is_one_batched_forward_for_all_faces(verify, photo_bytes, monkeypatch):
    calls = count_network_runs(monkeypatch, verify.handler.embedder)
    request = {"reference": bytearray(photo_bytes["astronaut"])}
    for i, name in enumerate(["group", "big_group", "shifted", "cat", "cameraman"], start=1):
        request[f"test_{i}"] = bytearray(photo_bytes[name])
    items = verify.handler.inference(verify.handler.preprocess([request]))
    faces = sum(len(photo["faces"]) for photo in items[0]["photos"])
    assert faces == 1 + 2 + 2 + 1 + 0 + 1
    flip = verify.handler.embedder.flip
    assert calls == [(2 if flip else 1) * faces]  # one run; with flip fusion the mirrored crops ride along
    for photo in items[0]["photos"]:
        assert photo["embeddings"].shape == (len(photo["faces"]), verify.handler.embedder.embedding_dim)
        if len(photo["faces"]):
            assert np.allclose(np.linalg.norm(photo["embeddings"], axis=1), 1.0, atol=1e-5)


def test_a_batch_of_requests_shares_one_forward_and_keeps_its_statuses(verify, photo_bytes, monkeypatch):
    calls = count_network_runs(monkeypatch, verify.handler.embedder)
    outputs, statuses = verify(
        {"reference": bytearray(photo_bytes["astronaut"]), "test_1": bytearray(photo_bytes["shifted"])},
        {"reference": bytearray(photo_bytes["cat"])},
        {"body": {"reference": b64(photo_bytes["cameraman"]), "tests": [b64(photo_bytes["group"])]}},
    )
    assert len(calls) == 1
    assert statuses == [200, 422, 200]
    assert outputs[0]["results"][0]["faces"] == 1
    assert outputs[1]["error"] == "no_face_in_reference"
    assert outputs[2]["results"][0]["faces"] == 2


# ---------------------------------------------------------------- postprocess


def test_same_face_scores_higher_than_a_different_face(verify, photo_bytes):
    request = {"reference": bytearray(photo_bytes["astronaut"])}
    names = ["scaled", "shifted", "rotated", "cameraman", "cat"]
    for i, name in enumerate(names, start=1):
        request[f"test_{i}"] = bytearray(photo_bytes[name])
    response, status = verify.one(request)
    assert status == 200
    scores = {name: result["score"] for name, result in zip(names, response["results"], strict=False)}
    for same in ("scaled", "shifted", "rotated"):
        assert scores[same] > scores["cameraman"] + 0.1, scores
    assert scores["cat"] is None


def test_response_format(verify, photo_bytes, astronaut_box):
    request = {"reference": bytearray(photo_bytes["astronaut"]),
               "test_2": bytearray(photo_bytes["cat"]),
               "test_1": bytearray(photo_bytes["group"]),
               "test_10": bytearray(photo_bytes["shifted"])}
    response, status = verify.one(request)
    assert status == 200
    json.dumps(response, allow_nan=False)  # plain JSON
    assert set(response) == {"model", "aliases", "threshold", "reference", "results"}
    # the test weights' stored version has no content hash: served with one, the stored name an alias
    assert re.fullmatch(r"face-verify:test-features-[0-9a-f]{8}", response["model"])
    assert response["aliases"] == ["face-verify:test-features"]
    assert response["threshold"] == pytest.approx(0.3)  # the checkpoint's calibrated default
    assert set(response["reference"]) == {"box", "confidence"}
    assert near(response["reference"]["box"], astronaut_box)
    assert [r["name"] for r in response["results"]] == ["test_1", "test_2", "test_10"]
    group, cat, shifted = response["results"]
    for result in (group, cat, shifted):
        assert set(result) == {"name", "match", "score", "box", "faces", "detections", "error"}
        assert result["error"] is None and len(result["detections"]) == result["faces"]
    assert cat == {"name": "test_2", "match": False, "score": None, "box": None, "faces": 0,
                   "detections": [], "error": None}
    assert group["faces"] == 2
    # every face: box, score, detector confidence; the best one is the result's box and score
    for face in group["detections"]:
        assert set(face) == {"box", "score", "confidence"} and 0 < face["confidence"] <= 1
    best = max(group["detections"], key=lambda face: face["score"])
    assert (best["box"], best["score"]) == (group["box"], group["score"])
    assert len({tuple(face["box"]) for face in group["detections"]}) == 2
    # the group's best face is the astronaut, not the cameraman next to her
    assert near(group["box"], moved(astronaut_box, 40, 150, 0.75), 0.1)
    for result in (group, shifted):
        assert isinstance(result["score"], float) and -1.0 <= result["score"] <= 1.0 + 1e-6
        assert result["match"] is (result["score"] >= response["threshold"])
        assert len(result["box"]) == 4 and all(isinstance(v, float) for v in result["box"])


def test_threshold_from_the_request_decides_match(verify, photo_bytes):
    base = {"reference": bytearray(photo_bytes["astronaut"]), "test_1": bytearray(photo_bytes["shifted"])}
    low, _ = verify.one({**base, "threshold": bytearray(b"-1")})
    high, _ = verify.one({**base, "threshold": bytearray(b"1")})
    score = low["results"][0]["score"]
    assert low["threshold"] == -1.0 and low["results"][0]["match"] is True
    assert high["threshold"] == 1.0 and high["results"][0]["match"] is (score >= 1.0)
    assert high["results"][0]["score"] == score


def test_json_mode_equals_form_mode(verify, photo_bytes):
    form, _ = verify.one({"reference": bytearray(photo_bytes["astronaut"]),
                          "test_1": bytearray(photo_bytes["group"]), "test_2": bytearray(photo_bytes["cat"]),
                          "threshold": bytearray(b"0.4")})
    body = {"reference": b64(photo_bytes["astronaut"]),
            "tests": [b64(photo_bytes["group"]), b64(photo_bytes["cat"])], "threshold": 0.4}
    as_json, status = verify.one({"body": body})
    as_bytes, _ = verify.one({"body": bytearray(json.dumps(body).encode())})
    assert status == 200 and as_json == form == as_bytes


def test_committed_weights_give_a_well_formed_answer(make_server, committed_model_dir, photo_bytes):
    server = make_server(committed_model_dir)
    response, status = server.one({"reference": bytearray(photo_bytes["astronaut"]),
                                   "test_1": bytearray(photo_bytes["group"]),
                                   "test_2": bytearray(photo_bytes["cat"])})
    assert status == 200
    first = response["results"][0]
    assert first["faces"] == 2 and math.isfinite(first["score"]) and -1.0 <= first["score"] <= 1.0 + 1e-6
    assert first["match"] is (first["score"] >= response["threshold"])


# ---------------------------------------------------------------- embed mode


def test_embed_mode(embed, photo_bytes):
    for request in ({"image": bytearray(photo_bytes["group"])},
                    {"body": bytearray(photo_bytes["group"])},
                    {"body": {"image": b64(photo_bytes["group"])}}):
        response, status = embed.one(request)
        assert status == 200
        assert response["model"] == embed.handler.label and response["aliases"] == ["face-embed:test-features"]
        assert len(response["faces"]) == 2
        for face in response["faces"]:
            assert set(face) == {"box", "confidence", "embedding"}
            assert len(face["box"]) == 4 and 0 < face["confidence"] <= 1
            assert len(face["embedding"]) == 256
            assert math.isclose(float(np.linalg.norm(face["embedding"])), 1.0, abs_tol=1e-4)
    assert embed.one({"image": bytearray(photo_bytes["cat"])}) == (
        {"model": embed.handler.label, "aliases": ["face-embed:test-features"], "threshold": 0.3,
         "far_thresholds": FAR_THRESHOLDS, "faces": []}, 200)


def test_embed_many_photos_in_one_request(embed, photo_bytes, monkeypatch):
    """image_1 ... image_N: each photo answered on its own, in order, a bad one with its own
    error; every face of every photo through the network in one run; each photo's faces
    equal what a one-photo request returns."""
    calls = count_network_runs(monkeypatch, embed.handler.embedder)
    response, status = embed.one({"image_1": bytearray(photo_bytes["group"]), "image_2": bytearray(b"GIF89a bad"),
                                  "image_3": bytearray(photo_bytes["cat"]),
                                  "image_4": bytearray(photo_bytes["astronaut"])})
    assert status == 200 and calls == [3]  # 2 + 0 + 1 faces
    assert set(response) == {"model", "aliases", "threshold", "far_thresholds", "photos"}
    assert [p["name"] for p in response["photos"]] == ["image_1", "image_2", "image_3", "image_4"]
    assert [len(p["faces"]) for p in response["photos"]] == [2, 0, 0, 1]
    assert response["photos"][1]["error"]["code"] == "not_an_image"
    assert response["photos"][1]["error"]["message"].startswith("image_2: ")
    assert [p["error"] for p in response["photos"][::2]] == [None, None]
    alone, _ = embed.one({"image": bytearray(photo_bytes["astronaut"])})
    assert np.allclose(alone["faces"][0]["embedding"], response["photos"][3]["faces"][0]["embedding"], atol=1e-5)
    assert alone["faces"][0]["box"] == response["photos"][3]["faces"][0]["box"]


def test_embed_many_over_the_limit_is_refused(make_server, feature_model_dir, photo_bytes):
    server = make_server(feature_model_dir, name="face-embed", yaml={"handler": {"max_photos": 2}})
    response, status = server.one({f"image_{n}": bytearray(photo_bytes["cat"]) for n in (1, 2, 3)})
    assert (response["error"], status) == ("too_many_photos", 413)
    assert "at most 2 per request" in response["message"]


def test_embed_matches_verify_scores(embed, verify, photo_bytes):
    ref, _ = embed.one({"image": bytearray(photo_bytes["astronaut"])})
    test, _ = embed.one({"image": bytearray(photo_bytes["shifted"])})
    verdict, _ = verify.one({"reference": bytearray(photo_bytes["astronaut"]),
                             "test_1": bytearray(photo_bytes["shifted"])})
    cosine = float(np.dot(ref["faces"][0]["embedding"], test["faces"][0]["embedding"]))
    assert cosine == pytest.approx(verdict["results"][0]["score"], abs=1e-4)


@pytest.mark.parametrize("request_, code", [
    ({}, "missing_image"),
    ({"image": bytearray(b"")}, "empty_file"),
    ({"image": bytearray(b"GIF89a garbage")}, "not_an_image"),
    ({"photo": bytearray(b"x")}, "unknown_field"),
])
def test_embed_errors(embed, request_, code):
    response, status = embed.one(request_)
    assert (response["error"], status) == (code, ERROR_STATUS[code])


# ---------------------------------------------------------------- errors


@pytest.fixture(scope="module")
def bad_requests(photo_bytes, bomb_png):
    ref, cat = bytearray(photo_bytes["astronaut"]), bytearray(photo_bytes["cat"])
    return {
        "missing_reference": {"test_1": ref},
        "no_face_in_reference": {"reference": cat, "test_1": ref},
        "not_an_image": {"reference": bytearray(b"%PDF-1.4 not a photo"), "test_1": ref},
        "truncated_image": {"reference": bytearray(photo_bytes["astronaut"][:6000])},
        "empty_file": {"reference": bytearray(), "test_1": ref},
        "too_many_photos": {"reference": ref, "test_33": ref},
        "image_too_large": {"reference": bytearray(bomb_png)},
        "malformed_json": {"body": bytearray(b'{"reference": "abc",')},
        "invalid_base64": {"body": {"reference": "not*base64"}},
        "invalid_threshold": {"reference": ref, "threshold": bytearray(b"NaN")},
        "unknown_field": {"reference": ref, "test_1": ref, "tset_2": ref},
    }


@pytest.mark.parametrize("code", [
    "missing_reference", "no_face_in_reference", "not_an_image", "truncated_image", "empty_file",
    "too_many_photos", "image_too_large", "malformed_json", "invalid_base64", "invalid_threshold",
    "unknown_field",
])
def test_bad_input_gives_its_4xx(verify, bad_requests, code):
    response, status = verify.one(bad_requests[code])
    assert response["error"] == code, response
    assert 400 <= status < 500 and status == ERROR_STATUS[code]
    assert isinstance(response["message"], str) and response["message"]


def test_error_message_names_the_field(verify, photo_bytes):
    response, _ = verify.one({"reference": bytearray(b"xx"), "test_1": bytearray(photo_bytes["astronaut"])})
    assert response["error"] == "not_an_image" and "reference" in response["message"]


@pytest.fixture(scope="module")
def unusable_tests(photo_bytes, bomb_png) -> dict[str, bytearray | str]:
    """A test photo of each kind that cannot be used, by the error it gets."""
    return {"not_an_image": bytearray(b"%PDF-1.4 not a photo"),
            "truncated_image": bytearray(photo_bytes["astronaut"][:6000]),
            "empty_file": bytearray(),
            "image_too_large": bytearray(bomb_png)}


def test_an_unusable_test_photo_gets_its_own_error_and_the_others_stand(verify, photo_bytes, unusable_tests):
    good = bytearray(photo_bytes["shifted"])
    request = {"reference": bytearray(photo_bytes["astronaut"]), "test_1": good,
               **{f"test_{i}": photo for i, photo in enumerate(unusable_tests.values(), start=2)},
               "test_6": "sent as a text field", "test_7": bytearray(photo_bytes["cat"])}
    response, status = verify.one(request)
    assert status == 200, response
    first, *bad, text, cat = response["results"]
    assert first["error"] is None and first["faces"] == 1 and isinstance(first["match"], bool)
    assert cat["error"] is None and cat["faces"] == 0 and cat["match"] is False
    for result, code in zip(bad + [text], list(unusable_tests) + ["not_an_image"], strict=False):
        assert result["error"]["code"] == code, result
        assert result["error"]["message"].startswith(f"{result['name']}: ")
        assert {k: result[k] for k in ("match", "score", "box", "faces", "detections")} == {
            "match": None, "score": None, "box": None, "faces": None, "detections": []}
    # the good photo's answer is the one it gets alone
    alone, _ = verify.one({"reference": bytearray(photo_bytes["astronaut"]), "test_1": good})
    assert alone["results"][0] == first


def test_weights_without_a_far_table_serve_their_fitted_threshold(make_server, feature_model_dir, tmp_path,
                                                                  photo_bytes):
    from model.embedder import save_checkpoint

    backbone, _ = load_backbone(feature_model_dir / "face_embedder.pt")
    save_checkpoint(tmp_path / "face_embedder.pt", backbone, threshold=0.22425022721290588, version="echo")
    response, _ = make_server(tmp_path).one({"reference": bytearray(photo_bytes["astronaut"]),
                                             "test_1": bytearray(photo_bytes["shifted"])})
    assert response["threshold"] == 0.22425022721290588  # what decides is what the caller reads
    result = response["results"][0]
    assert result["match"] is (result["score"] >= 0.22425022721290588)


def test_box_coordinates_are_never_negative_zero(verify, photos, encode_jpeg):
    """A face cut by the left edge: its box starts just left of the photo."""
    import math

    import numpy as np

    edge = np.ascontiguousarray(photos["astronaut"][:, 190:])
    response, _ = verify.one({"reference": bytearray(encode_jpeg(photos["astronaut"])),
                              "test_1": bytearray(encode_jpeg(edge))})
    values = [v for face in response["results"][0]["detections"] for v in face["box"]]
    assert values and not any(v == 0 and math.copysign(1, v) < 0 for v in values)
    assert "-0.0" not in json.dumps(response)


@pytest.mark.parametrize("threshold", [b"abc", b"1.5", b"-2", b"inf", b""])
def test_bad_thresholds(verify, photo_bytes, threshold):
    response, status = verify.one({"reference": bytearray(photo_bytes["astronaut"]),
                                   "threshold": bytearray(threshold)})
    assert (response["error"], status) == ("invalid_threshold", 400)


def test_pixel_bound_is_configurable(make_server, feature_model_dir, photo_bytes):
    server = make_server(feature_model_dir, yaml={"handler": {"max_pixels": 100_000}})
    response, status = server.one({"reference": bytearray(photo_bytes["astronaut"])})  # 512 x 512
    assert (response["error"], status) == ("image_too_large", 413)


def test_unexpected_failure_is_a_500_json_and_the_handler_lives_on(verify, photo_bytes, monkeypatch):
    request = {"reference": bytearray(photo_bytes["astronaut"])}
    with monkeypatch.context() as patch:
        patch.setattr(verify.handler.embedder, "embed", lambda crops: (_ for _ in ()).throw(RuntimeError("boom")))
        response, status = verify.one(request)
    assert (response["error"], status) == ("internal_error", 500)
    assert verify.one(request)[1] == 200


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(max_size=2000), cut=st.integers(min_value=0, max_value=30000))
def test_garbage_never_crashes(verify, photo_bytes, garbage, cut):
    """Garbage as a test photo: a verdict or that photo's own error, and the good photo
    beside it is answered. As the reference: a verdict or a 4xx."""
    good = photo_bytes["astronaut"]
    for photo in (garbage, good[:cut] + garbage, good[:200] + garbage + good[200 + len(garbage):]):
        response, status = verify.one({"reference": bytearray(good), "test_1": bytearray(photo),
                                       "test_2": bytearray(good)})
        assert status == 200, response
        garbled, control = response["results"]
        assert garbled["name"] == "test_1" and control["match"] is True
        if garbled["error"] is not None:
            assert garbled["error"]["code"] in PHOTO_ERRORS and garbled["match"] is None
        else:
            assert isinstance(garbled["match"], bool)
        response, status = verify.one({"reference": bytearray(photo), "test_1": bytearray(good)})
        assert status == 200 or (400 <= status < 500 and response["error"] in ERROR_STATUS)


# ---------------------------------------------------------------- isolation


def test_handler_never_imports_training_code():
    code = ("import sys, handler.face_handler; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('training', 'pretrain', 'finetune', 'data', 'evaluation', 'report')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    for path in (REPO / "handler").glob("*.py"):
        text = path.read_text()
        for package in ("training", "pretrain", "finetune", "data", "evaluation", "report"):
            assert not re.search(rf"^\s*(from|import) {package}\b", text, re.M), path


def test_handler_module_defines_one_class():
    """TorchServe loads a handler module by its only class."""
    from ts.utils.util import list_classes_from_module

    import handler.face_handler as module

    assert [c.__name__ for c in list_classes_from_module(module)] == ["FaceHandler"]
