"""client/people/pairs.py: the pairs a nearest-neighbour index finds for a large collection are
the pairs comparing every face finds, and grouping through it gives the same groups (the switch
forced on a small synthetic set); new faces scored in small blocks are placed as in one."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("qdrant_edge")

from client.models import EmbeddedFace  # noqa: E402
from client.people import index as index_module  # noqa: E402
from client.people import pairs  # noqa: E402
from client.people.grouping import chinese_whispers, similar_pairs  # noqa: E402
from client.people.index import PeopleIndex  # noqa: E402

DIM = 128
TABLE = [{"far": 0.01, "threshold": 0.26}, {"far": 0.001, "threshold": 0.35}, {"far": 0.0001, "threshold": 0.42}]


def faces_of_people(sizes: list[int], spread: float = 0.07, seed: int = 0) -> np.ndarray:
    """`sizes[p]` faces of person p around a random direction (same-person cosine about 0.6)."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(sizes), DIM))
    vectors = np.repeat(centres / np.linalg.norm(centres, axis=1, keepdims=True), sizes, axis=0)
    vectors = vectors + spread * rng.standard_normal(vectors.shape)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def test_the_index_finds_the_pairs_comparing_every_face_finds():
    # people of 1-8 faces and two of 60: more alike faces than the index is asked for
    sizes = list(np.random.default_rng(1).integers(1, 9, size=300)) + [60, 60]
    vectors = faces_of_people(sizes)
    exact = similar_pairs(vectors, 0.45, approximate_above=len(vectors))
    found = similar_pairs(vectors, 0.45, approximate_above=0)
    assert len(exact[0]) > 3500  # the two large people alone hold 2 x 1,770 pairs
    assert np.array_equal(found[0], exact[0]) and np.array_equal(found[1], exact[1])
    assert np.all(found[0] < found[1])


def test_few_faces_have_no_pairs_to_find():
    assert [len(side) for side in pairs.approximate_pairs(faces_of_people([1]), 0.4)] == [0, 0]
    two = pairs.approximate_pairs(faces_of_people([2], spread=0.01), 0.4)
    assert two[0].tolist() == [0] and two[1].tolist() == [1]


def test_grouping_through_the_index_gives_the_same_groups(monkeypatch):
    vectors = faces_of_people(list(np.random.default_rng(2).integers(1, 9, size=200)), seed=3)
    photos = [f"photo_{k // 3}" for k in range(len(vectors))]  # three faces a photo
    exact = chinese_whispers(vectors, 0.45, photos=photos)
    monkeypatch.setattr(pairs, "APPROXIMATE_ABOVE", 0)
    assert np.array_equal(chinese_whispers(vectors, 0.45, photos=photos), exact)


def index_of(vectors: np.ndarray) -> PeopleIndex:
    index = PeopleIndex(model="m", threshold=0.35, far_thresholds=TABLE)
    for k, vector in enumerate(vectors):
        index.add_photo(f"p{k}.jpg", f"sha{k}", [EmbeddedFace(box=(0, 0, 100, 100), confidence=0.9,
                                                            embedding=vector.tolist())])
    return index


def test_a_collection_grouped_and_added_to_through_the_index_matches_the_exact_one(monkeypatch):
    vectors = faces_of_people(list(np.random.default_rng(4).integers(2, 9, size=150)), seed=5)
    order = np.random.default_rng(6).permutation(len(vectors))
    first, later = vectors[order[:-40]], vectors[order[-40:]]

    def groups(approximate_above: int, scores_at_once: int) -> list:
        monkeypatch.setattr(pairs, "APPROXIMATE_ABOVE", approximate_above)
        monkeypatch.setattr(index_module, "SCORES_AT_ONCE", scores_at_once)
        index = index_of(first)
        index.assign()
        for k, vector in enumerate(later):
            index.add_photo(f"new{k}.jpg", f"new{k}", [EmbeddedFace(box=(0, 0, 100, 100), confidence=0.9,
                                                                   embedding=vector.tolist())])
        index.assign()
        return [face.group for face in index.faces]

    exact = groups(10**9, index_module.SCORES_AT_ONCE)
    assert len(set(exact)) < len(exact) / 2  # people were found
    # the index for the grouping, and the new faces scored one at a time
    assert groups(0, 1) == exact
