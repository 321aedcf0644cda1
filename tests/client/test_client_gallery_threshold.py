"""The 1:N search threshold: stricter as the gallery grows, read from the server's table."""
import pytest

from client.gallery.threshold import search_threshold
from client.models import EmbeddingResult

TABLE = [{"far": 1e-2, "threshold": 0.30}, {"far": 1e-3, "threshold": 0.40}, {"far": 1e-4, "threshold": 0.45},
         {"far": 1e-5, "threshold": 0.50}]


def answer(table=TABLE, threshold=0.40) -> EmbeddingResult:
    return EmbeddingResult(model="face-embed:test", faces=[], threshold=threshold, far_thresholds=table)


def test_a_small_gallery_uses_the_verification_threshold():
    assert search_threshold(answer(), 1, 0.01) == 0.40  # 1e-2 per pair, but never below verification
    assert search_threshold(answer(), 10, 0.01) == 0.40


def test_the_threshold_grows_with_the_gallery():
    assert search_threshold(answer(), 100, 0.01) == pytest.approx(0.45)  # 1e-4 per pair
    assert search_threshold(answer(), 1000, 0.01) == pytest.approx(0.50)
    between = search_threshold(answer(), 316, 0.01)  # 10^-4.5: half way in log rate
    assert 0.47 < between < 0.48
    sizes = [1, 3, 30, 300, 3000]
    thresholds = [search_threshold(answer(), n, 0.01) for n in sizes]
    assert thresholds == sorted(thresholds)


def test_beyond_the_table_its_last_step_continues():
    # 1e-4 -> 0.45 and 1e-5 -> 0.50: 0.05 more per decade below the table
    assert search_threshold(answer(), 10**4, 0.01) == pytest.approx(0.55)  # 1e-6 per pair
    assert search_threshold(answer(), 10**6, 0.01) == pytest.approx(0.65)  # 1e-8 per pair
    assert search_threshold(answer(), 10**30, 0.01) == 1.0  # a cosine similarity: never above 1


def test_a_one_entry_table_holds_its_entry_beyond_it():
    assert search_threshold(answer(table=[{"far": 1e-3, "threshold": 0.42}]), 10**6, 0.01) == 0.42


def test_a_looser_rate_gives_a_lower_threshold():
    assert search_threshold(answer(), 1000, 0.1) < search_threshold(answer(), 1000, 0.01)


def test_without_a_table_the_verification_threshold():
    assert search_threshold(answer(table=None), 10**6) == 0.40
    assert search_threshold(answer(table=None, threshold=None), 10) is None
