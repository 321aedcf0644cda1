"""The pydantic models mirror the serving JSON exactly."""
from __future__ import annotations

import copy

import pytest
from pydantic import ValidationError
from stub_http import sample_embedding, sample_verification

from client import EmbeddingBatch, EmbeddingResult, Health, TestResult, VerificationResult


def test_verification_round_trip():
    sample = sample_verification(3)
    result = VerificationResult.model_validate(sample)
    assert result.model_dump(mode="json") == sample
    assert VerificationResult.model_validate_json(result.model_dump_json()) == result


def test_verification_helpers():
    result = VerificationResult.model_validate(sample_verification(3))
    assert [r.name for r in result.matches] == ["test_1"]
    assert [r.name for r in result.non_matches] == ["test_2", "test_3"]
    assert result.match_flags == [True, False, False]
    assert result.scores == [0.81, None, None]
    assert result.result(0) is result.result("test_1")
    assert result.result("test_3").index == 2
    assert result.results[0].box == (10.0, 20.0, 80.0, 96.0)
    assert result.results[0].has_face and not result.results[1].has_face
    with pytest.raises(KeyError):
        result.result("test_9")


def test_unknown_fields_are_kept():
    sample = sample_verification(1)
    sample["elapsed_ms"] = 12.5
    sample["results"][0]["landmarks"] = [[1, 2]]
    assert VerificationResult.model_validate(sample).model_dump(mode="json") == sample


@pytest.mark.parametrize("mutate", [
    lambda d: d["results"][0].pop("faces"),
    lambda d: d["results"][0].update(box=[1, 2, 3]),
    lambda d: d["results"][0].update(faces=-1),
    lambda d: d["reference"].update(box=None),
    lambda d: d.pop("threshold"),
])
def test_contract_violations_are_rejected(mutate):
    sample = copy.deepcopy(sample_verification(1))
    mutate(sample)
    with pytest.raises(ValidationError):
        VerificationResult.model_validate(sample)


def test_no_face_result():
    item = TestResult.model_validate({"name": "test_2", "match": False, "score": None, "box": None, "faces": 0})
    assert item.score is None and item.box is None and not item.has_face


def test_embedding_and_health_round_trip():
    sample = sample_embedding()
    result = EmbeddingResult.model_validate(sample)
    assert result.model_dump(mode="json", exclude_none=True) == sample and result.detector is None
    detector = {"model": "yunet.onnx", "score_threshold": 0.6, "nms_threshold": 0.3, "top_k": 5000,
                "input_size": [640, 360], "scale": 0.5, "max_faces": 16}
    boxes_only = sample | {"faces": [face | {"embedding": []} for face in sample["faces"]], "detector": detector}
    assert EmbeddingResult.model_validate(boxes_only).model_dump(mode="json") == boxes_only
    assert result.boxes == [(1.0, 2.0, 30.0, 40.0), (50.0, 60.0, 20.0, 25.0)]
    assert result.embeddings[0] == [0.6, 0.8]
    assert Health.model_validate({"status": "Healthy"}).healthy
    assert not Health.model_validate({"status": "Unhealthy"}).healthy


def test_aliases_name_the_same_weights_and_older_servers_send_none():
    names = {"model": "face-embed:sface-3f9a12bc", "aliases": ["face-embed:sface-20261201"]}
    sample = sample_embedding() | names
    assert EmbeddingResult.model_validate(sample).aliases == ["face-embed:sface-20261201"]
    assert EmbeddingResult.model_validate(sample).model_dump(mode="json", exclude_none=True) == sample
    assert VerificationResult.model_validate(sample_verification(1) | {"aliases": ["v"]}).aliases == ["v"]
    batch = EmbeddingBatch.model_validate(names | {"photos": [{"name": "image_1", "faces": sample["faces"]}]})
    assert batch.result(0).aliases == ["face-embed:sface-20261201"]  # one photo of many: as `embed` answers it
    older = {key: value for key, value in sample_embedding().items() if key != "aliases"}
    assert EmbeddingResult.model_validate(older).aliases == []
    assert VerificationResult.model_validate({key: value for key, value in sample_verification(1).items()
                                              if key != "aliases"}).aliases == []


def test_models_are_immutable():
    result = VerificationResult.model_validate(sample_verification(1))
    with pytest.raises(ValidationError):
        result.threshold = 0.9
