"""Discover people (client/people): grouping synthetic embeddings with the served threshold
rule, the one-person-per-photo rule, the user's decisions surviving re-grouping, stable group
ids, new photos joining groups, the saved state, the JSON answer; the `people` commands on a
saved state, and `people discover` against the real server."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from client.cli import main as cli_main
from client.models import EmbeddedFace
from client.people.grouping import average_linkage, chinese_whispers
from client.people.index import PeopleError, PeopleIndex
from client.people.threshold import grouping_threshold

REPO = Path(__file__).resolve().parents[2]
# The shape of the table the server sends (weights/face_embedder.pt's, rounded)
TABLE = [{"far": 0.01, "threshold": 0.26}, {"far": 0.003, "threshold": 0.31}, {"far": 0.001, "threshold": 0.35},
         {"far": 0.0003, "threshold": 0.39}, {"far": 0.0001, "threshold": 0.42}, {"far": 3e-05, "threshold": 0.44}]
DIM = 128


def people(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((count, DIM))
    return centres / np.linalg.norm(centres, axis=1, keepdims=True)


def face_of(centre: np.ndarray, rng: np.random.Generator, spread: float = 0.07) -> np.ndarray:
    """A face of the person at `centre`: same-person cosine about 1 / (1 + 128 * 0.07^2) = 0.61."""
    vector = centre + spread * rng.standard_normal(DIM)
    return vector / np.linalg.norm(vector)


def embedded(vector: np.ndarray, size: float = 100.0, confidence: float = 0.95) -> EmbeddedFace:
    return EmbeddedFace(box=(10.0, 20.0, size, size), confidence=confidence, embedding=vector.tolist())


def collection(persons_per_photo: list[list[int]], seed: int = 1, **settings) -> PeopleIndex:
    """A state with photo k holding one face of each person in persons_per_photo[k]."""
    centres, rng = people(20), np.random.default_rng(seed)
    index = PeopleIndex(model="face-embed-test", threshold=0.35, far_thresholds=TABLE, **settings)
    for k, persons in enumerate(persons_per_photo):
        index.add_photo(f"photo_{k}.jpg", f"sha_{k}", [embedded(face_of(centres[p], rng)) for p in persons])
    return index


def groups_of(index: PeopleIndex) -> list[set[str]]:
    """Each group as the set of photos of its faces."""
    return sorted(({index.faces[i].photo for i in faces} for faces in index.members().values()), key=sorted)


def group_with(index: PeopleIndex, photo: str) -> str:
    return next(face.group for face in index.faces if face.photo == photo)


# ---------------------------------------------------------------------- threshold

def test_the_threshold_tightens_as_the_collection_grows_and_never_drops_below_verification():
    small, large = grouping_threshold(0.35, TABLE, 10), grouping_threshold(0.35, TABLE, 100_000)
    assert small == 0.35  # 0.1 / 10 = 1% per pair: looser than verification, so verification's
    assert 0.44 < large < 0.6  # 1e-6 per pair: beyond the table, its last step continued
    assert grouping_threshold(0.35, TABLE, 1000, false_link_rate=0.01) > grouping_threshold(0.35, TABLE, 1000)
    with pytest.raises(ValueError):
        grouping_threshold(0.35, TABLE, 10, false_link_rate=0.0)


# ---------------------------------------------------------------------- grouping

@pytest.mark.parametrize("group", [chinese_whispers, average_linkage])
def test_both_groupings_find_the_people(group):
    centres, rng = people(8), np.random.default_rng(2)
    truth = np.repeat(np.arange(8), 5)
    labels = group(np.stack([face_of(centres[p], rng) for p in truth]), 0.4)
    assert len(np.unique(labels)) == 8 and labels.min() == 0 and labels.max() == 7
    assert all(len(np.unique(labels[truth == p])) == 1 for p in range(8))


@pytest.mark.parametrize("group", [chinese_whispers, average_linkage])
def test_one_look_alike_face_does_not_chain_two_people(group):
    """Connected components join two people through a face between them; neither grouping does."""
    centres, rng = people(2), np.random.default_rng(3)
    a = [face_of(centres[0], rng) for _ in range(6)]
    b = [face_of(centres[1], rng) for _ in range(6)]
    bridge = (a[0] + b[0]) / np.linalg.norm(a[0] + b[0])  # a face between them
    vectors = np.stack(a + [bridge] + b)
    assert float(bridge @ a[0]) > 0.45 and float(bridge @ b[0]) > 0.45  # linked to both
    labels = group(vectors, 0.45)
    assert labels[0] != labels[-1]
    assert len(np.unique(labels[:6])) == 1 and len(np.unique(labels[7:])) == 1


def test_chinese_whispers_keeps_photos_pins_and_set_apart_faces():
    centres, rng = people(2), np.random.default_rng(5)
    vectors = np.stack([face_of(centres[0], rng) for _ in range(6)])  # one person, 6 faces
    assert len(np.unique(chinese_whispers(vectors, 0.4))) == 1
    photos = ["p1", "p1", "p2", "p3", "p4", "p5"]  # faces 0 and 1 share a photo
    labels = chinese_whispers(vectors, 0.4, photos=photos)
    assert labels[0] != labels[1]
    pinned = chinese_whispers(vectors, 0.4, pins=["x", None, None, "y", None, None])
    assert pinned[0] != pinned[3]  # two pinned groups never join
    apart = chinese_whispers(vectors, 0.4, apart=[(2, k) for k in range(6) if k != 2])
    assert all(apart[2] != apart[k] for k in range(6) if k != 2)


def test_two_faces_of_one_photo_are_never_one_person_unless_collages():
    same_person_twice = [[0, 0]] + [[0]] * 4  # photo 0 shows person 0 twice (a collage)
    index = collection(same_person_twice)
    index.assign()
    first, second = index.faces[0].group, index.faces[1].group
    assert first != second
    collage = collection(same_person_twice, one_person_per_photo=False)
    collage.assign()
    assert len(collage.members()) == 1


def test_small_and_unsure_faces_are_left_unassigned():
    centres, rng = people(1), np.random.default_rng(4)
    index = PeopleIndex(model="m", threshold=0.35, far_thresholds=TABLE)
    index.add_photo("a.jpg", "a", [embedded(face_of(centres[0], rng)), embedded(face_of(centres[0], rng), size=20),
                                   embedded(face_of(centres[0], rng), confidence=0.3)])
    index.add_photo("b.jpg", "b", [embedded(face_of(centres[0], rng))])
    index.assign()
    assert [face.unassigned for face in index.faces] == [None, "small_face", "low_confidence", None]
    assert [face.group is None for face in index.faces] == [False, True, True, False]
    assert index.faces[0].group == index.faces[3].group
    reasons = {face["face"]: face["reason"] for face in index.summary()["unassigned"]}
    assert reasons == {1: "small_face", 2: "low_confidence"}


# ---------------------------------------------------------------------- the living state

def test_new_photos_join_their_groups_without_renumbering():
    index = collection([[p] for p in range(5)] * 3)  # 5 people, 3 photos each
    index.assign()
    before = {face.id: face.group for face in index.faces}
    assert len(index.members()) == 5
    centres, rng = people(20), np.random.default_rng(9)
    index.add_photo("new_2.jpg", "new_2", [embedded(face_of(centres[2], rng)), embedded(face_of(centres[7], rng))])
    placed = index.assign()
    assert len(placed) == 2
    assert all(index.faces[i].group == group for i, group in before.items())  # nobody moved
    assert index.faces[-2].group == group_with(index, "photo_2.jpg")  # person 2 joined person 2
    assert index.faces[-1].group not in before.values()  # a new person: a new group
    assert index.assign() == []  # nothing left to place


def test_a_new_photo_with_the_same_content_adds_nothing():
    index = collection([[0], [0]])
    assert index.add_photo("copy.jpg", "sha_0", [embedded(people(1)[0])]) == []
    assert len(index.faces) == 2


def test_recluster_keeps_group_ids_and_names():
    index = collection([[p] for p in range(4)] * 3)
    index.assign()
    index.name(group_with(index, "photo_1.jpg"), "Ada")
    ids = {photo: group_with(index, f"photo_{photo}.jpg") for photo in range(4)}
    index.recluster()
    assert {photo: group_with(index, f"photo_{photo}.jpg") for photo in range(4)} == ids
    assert index.groups[ids[1]].name == "Ada"


def test_merge_split_and_reject_survive_reclustering():
    index = collection([[p] for p in range(4)] * 3)  # photos k, k+4, k+8 are person k
    index.assign()
    zero, one = group_with(index, "photo_0.jpg"), group_with(index, "photo_1.jpg")
    assert index.merge(zero, one) == zero  # the user says 0 and 1 are one person
    two = group_with(index, "photo_2.jpg")
    face_2_of_10 = next(f.id for f in index.faces if f.photo == "photo_10.jpg")
    new = index.split(two, [face_2_of_10])  # ... and that photo 10 is someone else
    face_3_of_7 = next(f.id for f in index.faces if f.photo == "photo_7.jpg")
    alone = index.reject(face_3_of_7)  # ... and that photo 7 is not person 3
    index.recluster()
    assert {group_with(index, f"photo_{k}.jpg") for k in (0, 1, 4, 5, 8, 9)} == {zero}
    assert group_with(index, "photo_10.jpg") == new != group_with(index, "photo_2.jpg") == two
    assert group_with(index, "photo_7.jpg") != group_with(index, "photo_3.jpg")
    assert index.faces[face_3_of_7].group == alone
    assert len(index.members()) == 5  # {0,1}, 2, 2's split, 3, 3's rejected face


def test_user_errors_are_refused():
    index = collection([[0], [0], [1]])
    index.assign()
    group = index.faces[0].group
    with pytest.raises(PeopleError):
        index.merge(group, group)
    with pytest.raises(PeopleError):
        index.split(group, [face.id for face in index.faces if face.group == group])  # all of it
    with pytest.raises(PeopleError):
        index.name("g999", "Nobody")
    with pytest.raises(PeopleError):
        index.set_model("another-model", 0.3, TABLE)


def test_groups_are_named_by_a_gallery_and_naming_enrols():
    index = collection([[0], [0], [0], [1], [1]])
    index.assign()
    known = index.vectors[index.faces[0].id]  # the gallery knows person 0

    def identify(embeddings: np.ndarray) -> list[str | None]:
        return ["Ada" if float(row @ known) > 0.4 else None for row in embeddings]

    index.recluster(identify)
    assert index.groups[index.faces[0].group].name == "Ada" and index.groups[index.faces[0].group].named_by == "gallery"
    assert index.groups[index.faces[3].group].name is None
    enrolled = []
    index.name(index.faces[3].group, "Bob", lambda name, faces, vectors: enrolled.append((name, len(faces),
                                                                                          vectors.shape)))
    assert enrolled == [("Bob", 2, (2, DIM))]


def test_the_state_saves_and_loads_whole(tmp_path):
    index = collection([[0, 1], [0], [1]])
    index.assign()
    index.reject(index.faces[3].id)
    index.save(tmp_path)
    again = PeopleIndex.load(tmp_path)
    assert again.summary() == index.summary()
    assert again.apart == index.apart and again.next_group == index.next_group
    assert np.array_equal(again.vectors, index.vectors)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["embeddings.npy", "people.json"]


def test_the_json_answer_has_groups_and_unassigned_faces():
    index = collection([[0], [0], [1]])
    index.add_photo("tiny.jpg", "tiny", [embedded(people(1)[0], size=10)])
    index.assign()
    answer = json.loads(json.dumps(index.summary(min_faces=2)))
    assert set(answer) == {"groups", "unassigned"}
    assert [len(group["faces"]) for group in answer["groups"]] == [2]
    group = answer["groups"][0]
    assert set(group) == {"id", "name", "label", "faces"} and group["id"].startswith("g")
    assert all(set(face) >= {"photo", "box"} and len(face["box"]) == 4 for face in group["faces"])
    assert sorted(face["reason"] for face in answer["unassigned"]) == ["alone", "small_face"]


# ---------------------------------------------------------------------- the commands

def test_importing_the_cli_loads_no_numpy_or_scipy():
    code = "import sys, client.cli.main; print(' '.join(sorted(sys.modules)))"
    modules = set(subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                                 check=True).stdout.split())
    assert not {"numpy", "scipy", "sklearn"} & modules


def test_the_commands_edit_a_saved_state(tmp_path, capsys):
    index = collection([[p] for p in range(3)] * 2)
    index.assign()
    index.save(tmp_path)
    first, second = index.faces[0].group, index.faces[1].group
    assert cli_main(["people", "name", first, "Ada", "--state", str(tmp_path)]) == 0
    assert cli_main(["people", "merge", first, second, "--state", str(tmp_path)]) == 0
    assert cli_main(["people", "reject", str(index.faces[4].id), "--state", str(tmp_path)]) == 0
    third = index.faces[2].group  # person 2: faces 2 and 5
    assert cli_main(["people", "split", third, str(index.faces[5].id), "--state", str(tmp_path)]) == 0
    capsys.readouterr()
    assert cli_main(["people", "show", "--state", str(tmp_path), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    ada = next(group for group in shown["groups"] if group["name"] == "Ada")
    assert sorted(face["photo"] for face in ada["faces"]) == ["photo_0.jpg", "photo_1.jpg", "photo_3.jpg"]
    groups = {face["photo"]: group["id"] for group in shown["groups"] for face in group["faces"]}
    assert groups["photo_2.jpg"] == third != groups["photo_5.jpg"]  # the split holds
    assert groups["photo_4.jpg"] not in {groups["photo_1.jpg"], groups["photo_2.jpg"]}  # rejected from person 1
    assert cli_main(["people", "merge", first, "g999", "--state", str(tmp_path)]) == 2
    assert cli_main(["people", "show", "--state", str(tmp_path / "none")]) == 2


@pytest.mark.integration
def test_discover_groups_a_folder_through_the_server_and_resumes(torchserve_server, tmp_path, capsys):
    skimage_data = pytest.importorskip("skimage.data")
    from PIL import Image

    photos = tmp_path / "photos"
    (photos / "2024").mkdir(parents=True)
    astronaut = skimage_data.astronaut()
    Image.fromarray(astronaut).save(photos / "a.jpg")
    Image.fromarray(astronaut[:, ::-1].copy()).save(photos / "2024" / "b.jpg")  # the same person, mirrored
    Image.fromarray(skimage_data.chelsea()).save(photos / "cat.jpg")  # no face
    state, out = tmp_path / "state", tmp_path / "people.json"
    server = ["--url", torchserve_server.base_url, "--token", torchserve_server.token, "--state", str(state)]
    assert cli_main(["people", "discover", str(photos), "--json", str(out), *server]) == 0
    answer = json.loads(out.read_text())
    assert [sorted(Path(face["photo"]).name for face in group["faces"]) for group in answer["groups"]][0] == \
        ["a.jpg", "b.jpg"]
    assert all(len(face["box"]) == 4 for group in answer["groups"] for face in group["faces"])
    capsys.readouterr()
    assert cli_main(["people", "discover", str(photos), *server]) == 0
    assert "3 photo(s) already in" in capsys.readouterr().err  # nothing sent again


def test_a_named_group_is_enrolled_in_a_gallery_which_then_names_it(tmp_path):
    pytest.importorskip("qdrant_edge")
    from client.gallery import Gallery
    from client.people.gallery_link import gallery_enrol, gallery_identify

    index = collection([[0], [0], [0], [1], [1]])
    index.assign()
    ada = index.faces[0].group
    with Gallery(tmp_path / "gallery") as gallery:
        index.name(ada, "Ada", gallery_enrol(gallery, index))
        enrolled = gallery.people()
        assert [(person.name, len(person.photos)) for person in enrolled] == [("Ada", 3)]
        assert enrolled[0].photos[0].startswith("photo_0.jpg#face")
        again = collection([[0], [0], [1]], seed=7)  # the same people, new photos
        again.assign(gallery_identify(gallery, again))
    names = {again.groups[face.group].name for face in again.faces}
    assert names == {"Ada", None} and again.groups[again.faces[0].group].named_by == "gallery"
