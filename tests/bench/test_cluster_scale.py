"""bench/cluster_scale.py: a collection grouped then added to, per size; figures kept in the
checkpoint folder and taken from there by a rerun of the same code, a size interrupted after its
grouping resumed from the saved collection; one size in a process of its own."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bench import cluster_scale
from tests.bench.test_cluster_eval import TABLE, synthetic_faces


def real_faces():
    faces = synthetic_faces(60, 5, 0.07, 4, "devtest")
    return faces.embeddings, faces.identities


def test_each_size_is_grouped_then_added_to():
    real, people = real_faces()
    found = cluster_scale.scale_figures(real, people, 0.35, TABLE, 0.03, sizes=(800, 1500), add=100,
                                        checkpoints=None, log=lambda line: None)
    assert found["real_faces"] == 300 and found["added_faces"] == 100
    assert found["synthetic_spread"] == pytest.approx(0.07, rel=0.15)
    assert [size["faces"] for size in found["sizes"]] == [800, 1500]
    for size in found["sizes"]:
        assert size["threshold"] > 0.44  # stricter than the table's strictest entry at this size
        assert size["pairs"] == "exact" and size["group_seconds"] >= 0 and size["add_seconds"] >= 0
        assert 0 < size["collection_rss_gb"] and 0 < size["group_peak_rss_gb"] and 0 < size["add_peak_rss_gb"]
        real_scores = size["scores"]["after_adding"]["measured_faces"]
        assert real_scores["groups"] == 60 and real_scores["pairwise_f"] == 1.0  # well-separated people, all found


def test_the_collection_is_the_same_for_the_same_size():
    real, people = real_faces()
    one = cluster_scale.collection(real, people, 0.07, 1000, 50)
    two = cluster_scale.collection(real, people, 0.07, 1000, 50)
    assert all(np.array_equal(a, b) for a, b in zip(one, two, strict=True))
    vectors, who, order = one
    assert len(vectors) == len(who) == len(order) == 1050 and np.array_equal(vectors[:300], real)


def test_a_rerun_takes_the_figures_from_the_checkpoints_and_resumes_a_grouped_size(tmp_path):
    real, people = real_faces()
    lines = []
    first = cluster_scale.scale_figures(real, people, 0.35, TABLE, 0.03, sizes=(900,), add=50,
                                        checkpoints=tmp_path, in_process=True, log=lines.append)
    assert (tmp_path / "scale_900_grouped" / "people.json").exists()
    (tmp_path / "scale_900.json").write_text(json.dumps({"key": "stale", "figures": {}}))
    # no finished figures of this code: the grouped collection is read back, only the adding runs
    again = cluster_scale.scale_figures(real, people, 0.35, TABLE, 0.03, sizes=(900,), add=50,
                                        checkpoints=tmp_path, in_process=True, log=lines.append)
    assert any("grouped collection read from" in line for line in lines)
    assert again["sizes"][0]["scores"] == first["sizes"][0]["scores"]
    assert again["sizes"][0]["group_seconds"] == first["sizes"][0]["group_seconds"]


def test_a_size_runs_in_a_process_of_its_own(tmp_path):
    real, people = real_faces()
    found = cluster_scale.scale_figures(real, people, 0.35, TABLE, 0.03, sizes=(700,), add=30,
                                        checkpoints=tmp_path, log=lambda line: None)
    stored = json.loads((tmp_path / "scale_700.json").read_text())
    assert stored["figures"] == found["sizes"][0] and found["sizes"][0]["added_faces"] == 30
    lines = []
    cluster_scale.scale_figures(real, people, 0.35, TABLE, 0.03, sizes=(700,), add=30, checkpoints=tmp_path,
                                log=lines.append)
    assert any("read from" in line for line in lines)


def test_the_index_pairs_are_checked_against_all_pairs():
    from bench import cluster_eval

    real, people = real_faces()
    check = cluster_eval.pair_check(real, people, 0.35, TABLE, 0.03, faces=1200, log=lambda line: None)
    assert check["faces"] == 1200 and check["pairs"] > 1000
    assert check["recall"] == 1.0 and check["found"] == check["pairs"] and check["not_among_all_pairs"] == 0
