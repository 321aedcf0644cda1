import numpy as np
import pytest

from evaluation.metrics import best_threshold, verification_metrics


def test_separable_scores_give_perfect_metrics():
    scores = np.array([0.9, 0.8, 0.7, 0.2, 0.1, 0.0])
    same = np.array([1, 1, 1, 0, 0, 0], dtype=bool)
    threshold = best_threshold(scores, same)
    assert 0.2 < threshold < 0.7
    metrics = verification_metrics(scores, same, threshold)
    assert metrics["accuracy"] == 1.0 and metrics["roc_auc"] == 1.0
    assert metrics["eer"] == 0.0 and metrics["tar_at_far_1pct"] == 1.0


def test_known_accuracy_and_auc():
    # 4 same, 4 different; one different pair (0.85) outranks three same pairs.
    scores = np.array([0.9, 0.8, 0.6, 0.5, 0.85, 0.3, 0.2, 0.1])
    same = np.array([1, 1, 1, 1, 0, 0, 0, 0], dtype=bool)
    metrics = verification_metrics(scores, same, threshold=0.55)
    assert metrics["accuracy"] == pytest.approx(6 / 8)  # wrong: 0.5 rejected, 0.85 accepted
    assert metrics["roc_auc"] == pytest.approx(13 / 16)  # 16 same/different comparisons, 3 inverted
    assert 0.3 < best_threshold(scores, same) < 0.5  # accepting 0.5 too gives 7/8


def test_random_scores_are_near_chance():
    rng = np.random.default_rng(0)
    scores, same = rng.random(4000), rng.random(4000) > 0.5
    assert abs(verification_metrics(scores, same, 0.5)["roc_auc"] - 0.5) < 0.05


def test_best_threshold_is_the_best_cut_between_scores():
    from evaluation.metrics import best_threshold

    rng = np.random.default_rng(0)
    same = rng.random(400) < 0.3
    scores = np.round(np.where(same, rng.normal(0.6, 0.2, 400), rng.normal(0.1, 0.2, 400)), 2)  # with ties
    order = np.sort(np.unique(scores))
    cuts = np.concatenate([[order[0] - 1e-6], (order[:-1] + order[1:]) / 2, [order[-1] + 1e-6]])
    best = max(np.mean((scores >= t) == same) for t in cuts)  # every cut, one by one
    assert np.mean((scores >= best_threshold(scores, same)) == same) == best
    assert best_threshold(np.array([0.1, 0.9]), np.array([False, True])) == 0.5


def test_all_pairs_lists_every_distinct_pair_once():
    from evaluation.metrics import all_pairs

    vectors = np.eye(3)
    scores, same = all_pairs(vectors, ["a", "a", "b"])
    assert scores.tolist() == [0, 0, 0] and same.tolist() == [True, False, False]
