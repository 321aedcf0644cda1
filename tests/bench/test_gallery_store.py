"""The store comparison runs on the installed store (Qdrant local mode) and skips the other."""
from bench.gallery_store import available, measure


def test_measure_a_small_gallery():
    row = measure("qdrant", 300, queries=5, k=3, seed=0)
    assert row["size"] == 300 and row["queries"] == 5 and row["disk_bytes"] > 300 * 128 * 4
    assert 0 < row["query_ms_median"] <= row["query_ms_p95"]


def test_a_store_not_installed_is_reported_as_such():
    assert available("qdrant")
    assert isinstance(available("milvus"), bool)
