"""The FAR threshold rule (client/far.py): one definition for the evaluation's served threshold
and FAR table and for `face-verify calibrate`."""
from __future__ import annotations

import numpy as np
import pytest

from client.calibrate import rates, recommend
from client.far import far_table, far_threshold, next_above, rounded_up


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_far_threshold_accepts_at_most_the_given_share_of_impostors(dtype):
    impostors = np.random.default_rng(1).normal(0, 0.1, 10_000).astype(dtype)
    for far in (0.01, 0.001, 0.0001):
        threshold = far_threshold(impostors, far)
        assert np.mean(impostors >= threshold) <= far  # compared as numpy compares (float32 stays float32)
        assert np.mean(impostors >= np.nextafter(impostors.dtype.type(threshold), -np.inf)) > far  # the lowest such


def test_float32_scores_step_to_the_next_float32():
    for value in (0.3474755585193634, -0.25, 0.0, 1e-30):
        score = np.float32(value)
        assert next_above(score) == float(np.nextafter(score, np.float32(np.inf)))
    assert next_above(0.3) == np.nextafter(0.3, np.inf)


def test_rounded_up_never_goes_below_and_keeps_exact_values():
    assert rounded_up(0.26006558537483215) == 0.2601
    assert rounded_up(0.3475) == 0.3475 and rounded_up(0.30000000000000004) == 0.3001
    assert rounded_up(-0.00001) == 0.0 and rounded_up(0.99995) == 1.0
    values = np.random.default_rng(0).uniform(-1, 1, 2000)
    assert all(v <= rounded_up(v) < v + 1e-4 for v in values)
    assert all(rounded_up(rounded_up(v)) == rounded_up(v) for v in values)


def test_far_table_gives_stricter_rounded_up_thresholds_for_rarer_false_matches():
    impostors = np.random.default_rng(2).normal(0, 0.1, 100_000).astype(np.float32)
    table = far_table(impostors, rates=(1e-2, 1e-3, 1e-4, 1e-5))
    assert [row["far"] for row in table] == [1e-2, 1e-3, 1e-4]  # 1e-5 of 100k pairs: 1 pair, too few to measure
    assert [row["threshold"] for row in table] == sorted(row["threshold"] for row in table)
    for row in table:  # 4 decimals, rounded up: the rate still holds
        assert row["threshold"] == rounded_up(far_threshold(impostors, row["far"]))
        assert np.mean(impostors >= row["threshold"]) <= row["far"]


def test_calibrate_recommends_what_the_table_would_serve():
    different = list(np.random.default_rng(3).normal(0.1, 0.1, 5000))
    for far in (0.01, 0.001):
        chosen = recommend(different, far)
        assert chosen == far_table(different, [far], min_pairs=1)[0]["threshold"]
        assert rates(chosen, [], different).far.value <= far
