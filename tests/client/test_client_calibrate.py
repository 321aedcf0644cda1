"""Calibration statistics and the threshold file, without a server."""
from __future__ import annotations

import json

import pytest
from stub_http import sample_verification

from client import FaceClient
from client.calibrate import rates, recommend, score_pairs, table_thresholds, wilson
from client.thresholds import CalibrationFileError


def test_wilson_interval_matches_known_values():
    low, high = wilson(0, 100)
    assert low == 0.0 and high == pytest.approx(0.0370, abs=1e-4)
    assert wilson(5, 10) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    assert wilson(0, 0) == (0.0, 1.0)


def test_recommended_threshold_meets_the_target_on_the_pairs():
    different = [0.1, 0.2, 0.3, 0.9]
    assert recommend(different, 0.25) == 0.3001  # one false match of four allowed: the 0.9
    assert rates(0.3001, [0.5], different).far.hits == 1
    assert recommend(different, 0.001) == 0.9001
    assert rates(0.9001, [0.95, 0.5], different).tar.value == 0.5


def test_pairs_are_scored_by_cosine_and_sampled_when_many():
    unit = {"a": [[1.0, 0.0], [0.8, 0.6]], "b": [[0.0, 1.0]]}
    same, different = score_pairs(unit, max_pairs=100)
    assert same == [pytest.approx(0.8)] and sorted(different) == [pytest.approx(0.0), pytest.approx(0.6)]
    many = {str(p): [[1.0, 0.0]] * 3 for p in range(30)}
    same, different = score_pairs(many, max_pairs=50)
    assert len(same) == 50 and len(different) == 50


def test_table_covers_the_scores():
    grid = table_thresholds([0.42, 0.9], [-0.12, 0.3])
    assert grid[0] <= -0.12 and grid[-1] >= 0.9 and grid[1] - grid[0] == pytest.approx(0.05)


def test_the_client_uses_a_saved_threshold_by_default(stub, isolated_cwd, monkeypatch):
    (isolated_cwd / "face-verify-threshold.json").write_text(json.dumps({"threshold": 0.4321,
                                                                           "model": "face-verify 1.0"}))
    stub.add(200, sample_verification(1)).add(200, sample_verification(1))
    client = FaceClient(stub.url, token="t")
    assert client.threshold == 0.4321 and client.threshold_source.endswith("face-verify-threshold.json")
    client.verify(b"\xff\xd8\xffR", b"\xff\xd8\xffA")
    assert b'name="threshold"\r\n\r\n0.4321' in stub.requests[0].body
    client.verify(b"\xff\xd8\xffR", b"\xff\xd8\xffA", threshold=0.5)  # the argument wins
    assert b"\r\n\r\n0.5\r\n" in stub.requests[1].body
    assert FaceClient(stub.url, token="t", threshold=0.1).threshold == 0.1
    other = isolated_cwd / "other.json"
    other.write_text('{"threshold": 0.25}')
    monkeypatch.setenv("FACE_VERIFY_THRESHOLD_FILE", str(other))
    assert FaceClient(stub.url, token="t").threshold == 0.25


def test_a_threshold_calibrated_for_another_model_warns(stub, isolated_cwd):
    (isolated_cwd / "face-verify-threshold.json").write_text('{"threshold": 0.3, "model": "face-verify:old"}')
    stub.add(200, sample_verification(1))
    with pytest.warns(UserWarning, match="calibrate again"):
        FaceClient(stub.url, token="t").verify(b"\xff\xd8\xffR", b"\xff\xd8\xffA")


@pytest.mark.parametrize("content", ["not json", '{"threshold": 2}', '{"threshold": "0.3"}', "[]"])
def test_a_broken_threshold_file_is_a_clear_error(isolated_cwd, content):
    (isolated_cwd / "face-verify-threshold.json").write_text(content)
    with pytest.raises(CalibrationFileError, match="face-verify-threshold.json"):
        FaceClient(token="t")
