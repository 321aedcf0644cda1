"""Discover people: small groups join the group whose centroid is most like theirs
(client/people/grouping.py join_small_groups), in the grouping, in PeopleIndex.assign and
recluster, never across a photo, a set-apart pair or two different pins."""
from __future__ import annotations

import numpy as np

from client.models import EmbeddedFace
from client.people.grouping import chinese_whispers, group_faces, join_small_groups
from client.people.index import PeopleIndex

DIM = 64
THRESHOLD = 0.63


def basis(k: int) -> np.ndarray:
    return np.eye(DIM)[k]


def unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def person_in_two_halves() -> tuple[np.ndarray, np.ndarray]:
    """Person A (direction 0): six alike faces (pairwise 0.8) and a pair of odd ones, alike
    each other (0.92) but only 0.59 to each of the six, under THRESHOLD; the pair's centroid is
    0.66 to the six's, over it. Person B (direction 40): three faces. Rows: A's six, A's pair,
    B's three; with who they are."""
    six = [unit(basis(0) + 0.5 * basis(1 + k)) for k in range(6)]
    pair = [unit(basis(0) + 1.1 * basis(20) + sign * 0.3 * basis(21)) for sign in (1, -1)]
    other = [unit(basis(40) + 0.5 * basis(41 + k)) for k in range(3)]
    return np.stack(six + pair + other).astype(np.float32), np.array(["A"] * 8 + ["B"] * 3)


def test_the_synthetic_person_is_split_by_single_links_but_not_by_centroids():
    vectors, _ = person_in_two_halves()
    scores = vectors @ vectors.T
    assert scores[:6, 6:8].max() < THRESHOLD < scores[6, 7]  # no face of the pair links to the six
    whispers = chinese_whispers(vectors, THRESHOLD)
    assert whispers[6] == whispers[7] != whispers[0]  # two groups for A
    assert len(np.unique(whispers)) == 3


def test_a_small_group_joins_its_persons_larger_group_and_no_one_else():
    vectors, who = person_in_two_halves()
    labels = group_faces(vectors, THRESHOLD)
    assert len(np.unique(labels[who == "A"])) == 1 and len(np.unique(labels[who == "B"])) == 1
    assert labels[0] != labels[-1]
    assert len(np.unique(group_faces(vectors, THRESHOLD, small=1))) == 3  # a pair is over the size


def test_a_joined_group_takes_the_larger_groups_label_and_others_keep_theirs():
    vectors, _ = person_in_two_halves()
    labels = np.array([5] * 6 + [2] * 2 + [9] * 3)
    assert join_small_groups(vectors, labels, THRESHOLD).tolist() == [5] * 8 + [9] * 3
    # with only B changed since the last pass, A's halves were checked then: nothing to do
    assert join_small_groups(vectors, labels, THRESHOLD, changed=[9]).tolist() == labels.tolist()


def test_never_across_a_photo_a_set_apart_pair_or_two_pins():
    vectors, _ = person_in_two_halves()
    labels = np.array([0] * 6 + [1] * 2 + [2] * 3)
    photos = [f"p{k}" for k in range(11)]
    photos[7] = "p3"  # a face of the pair is in a photo with one of the six
    assert join_small_groups(vectors, labels, THRESHOLD, photos=photos).tolist() == labels.tolist()
    assert join_small_groups(vectors, labels, THRESHOLD, apart=[(2, 6)]).tolist() == labels.tolist()
    pins = ["x"] * 6 + ["y"] * 2 + [None] * 3
    assert join_small_groups(vectors, labels, THRESHOLD, pins=pins).tolist() == labels.tolist()
    # a pinned group takes in an unpinned one, under its own label, small or not
    pinned_pair = [None] * 6 + ["y"] * 2 + [None] * 3
    assert join_small_groups(vectors, labels, THRESHOLD, pins=pinned_pair).tolist() == [1] * 8 + [2] * 3
    assert group_faces(vectors, THRESHOLD, pins=pins)[6] != group_faces(vectors, THRESHOLD, pins=pins)[0]


def face(vector: np.ndarray) -> EmbeddedFace:
    return EmbeddedFace(box=(0.0, 0.0, 100.0, 100.0), confidence=0.95, embedding=vector.tolist())


def test_assign_joins_new_odd_photos_to_the_existing_group_and_recluster_agrees():
    vectors, _ = person_in_two_halves()
    index = PeopleIndex(model="m", threshold=THRESHOLD, far_thresholds=[])
    for k in (*range(6), 8, 9, 10):  # A's six and B
        index.add_photo(f"photo_{k}.jpg", f"sha_{k}", [face(vectors[k])])
    index.assign()
    a_group, b_group = index.faces[0].group, index.faces[-1].group
    index.name(a_group, "Ada")  # pinned: a named group still takes in its odd photos
    for k in (6, 7):
        index.add_photo(f"photo_{k}.jpg", f"sha_{k}", [face(vectors[k])])
    placed = index.assign()
    assert [index.faces[i].group for i in placed] == [a_group, a_group]
    assert set(index.members()) == {a_group, b_group} == set(index.groups)  # the pair's new group is gone
    before = {f.id: f.group for f in index.faces}
    index.recluster()
    assert {f.id: f.group for f in index.faces} == before
    assert index.groups[a_group].name == "Ada"


def test_the_setting_is_saved_with_the_state(tmp_path):
    index = PeopleIndex(model="m", threshold=THRESHOLD, far_thresholds=[], small_group=3)
    index.save(tmp_path)
    assert PeopleIndex.load(tmp_path).small_group == 3
