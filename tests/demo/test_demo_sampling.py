"""The seeded 1 + 15 sets: reproducible, 5 same + 10 different people, all from peopleDevTest."""
from __future__ import annotations

from pathlib import Path

import pytest

from data.lfw import lfw_photo, read_people
from data.lfw_sampling import (
    MIN_PHOTOS,
    OTHERS,
    SAME,
    PhotoSet,
    eligible,
    load_devtest_people,
    sample_set,
    score_set,
)
from demo.own_photos import folder_set

# `data_dir` (tests/conftest.py) skips these tests with a clear reason when LFW is absent.


@pytest.fixture(scope="module")
def people(data_dir):
    return load_devtest_people(data_dir)


def person_of(path: Path) -> str:
    return path.parent.name


def test_same_seed_same_set(people, data_dir):
    assert sample_set(people, data_dir, 7) == sample_set(people, data_dir, 7)
    assert sample_set(people, data_dir, 7) != sample_set(people, data_dir, 8)


@pytest.mark.parametrize("seed", range(25))
def test_five_same_and_ten_different_people(people, data_dir, seed):
    demo_set = sample_set(people, data_dir, seed)
    target = demo_set.reference_person
    assert person_of(demo_set.reference) == target and people[target] >= MIN_PHOTOS
    tests = list(zip(demo_set.tests, demo_set.people, demo_set.same, strict=False))
    same = [(path, person) for path, person, truth in tests if truth]
    others = [(path, person) for path, person, truth in tests if not truth]
    assert len(same) == SAME and len(others) == OTHERS
    assert all(person == target == person_of(path) for path, person in same)
    # 1 + 5 distinct photos of the reference person
    assert len({demo_set.reference, *(path for path, _ in same)}) == SAME + 1
    # 10 different people, none of them the reference person, each with >= 6 photos
    assert len({person for _, person in others}) == OTHERS and target not in {person for _, person in others}
    assert all(person_of(path) == person and people[person] >= MIN_PHOTOS for path, person in others)
    assert all(path.is_file() for path in demo_set.tests) and demo_set.reference.is_file()
    assert [i for i, (_, _, truth) in enumerate(tests) if truth] == demo_set.same_indices


def test_tests_are_shuffled(people, data_dir):
    patterns = {tuple(sample_set(people, data_dir, seed).same) for seed in range(10)}
    assert len(patterns) > 1 and (True,) * SAME + (False,) * OTHERS not in patterns


def test_only_peopledevtest_people_are_drawn(people, data_dir):
    train_file = data_dir / "lfw" / "peopleDevTrain.txt"
    train = read_people(train_file) if train_file.is_file() else {}
    drawn = set()
    for seed in range(100):
        demo_set = sample_set(people, data_dir, seed)
        drawn |= {demo_set.reference_person, *demo_set.people}
    assert drawn <= set(people)
    assert not drawn & set(train), "a peopleDevTrain (training) person was drawn"


def test_every_eligible_devtest_person_has_all_photos(people, data_dir):
    pool = eligible(people)
    assert len(pool) > OTHERS
    missing = [str(lfw_photo(data_dir, name, n)) for name in pool for n in range(1, people[name] + 1)
               if not lfw_photo(data_dir, name, n).is_file()]
    assert not missing, f"{len(missing)} photos listed in peopleDevTest are missing, e.g. {missing[:3]}"


def test_read_people_checks_the_count(tmp_path):
    good = tmp_path / "people.txt"
    good.write_text("2\nAlice\t7\nBob\t1\n")
    assert read_people(good) == {"Alice": 7, "Bob": 1}
    assert eligible(read_people(good)) == ["Alice"]
    bad = tmp_path / "bad.txt"
    bad.write_text("3\nAlice\t7\nBob\t1\n")
    with pytest.raises(ValueError, match="announces 3"):
        read_people(bad)


def test_synthetic_people_sample(tmp_path):
    people = {f"P{i:02d}": 6 + i % 3 for i in range(12)} | {"Few": 2}
    demo_set = sample_set(people, tmp_path, 0)
    assert "Few" not in {*demo_set.people, demo_set.reference_person}
    with pytest.raises(ValueError, match="need 11"):
        sample_set({f"P{i}": 6 for i in range(5)}, tmp_path, 0)


def test_folder_set_and_scoring(tmp_path):
    (tmp_path / "tests").mkdir()
    for name in ("b.jpg", "a.png", "notes.txt"):
        (tmp_path / "tests" / name).write_bytes(b"x")
    (tmp_path / "ref.jpg").write_bytes(b"x")
    demo_set = folder_set(tmp_path / "ref.jpg", tmp_path / "tests")
    assert [path.name for path in demo_set.tests] == ["a.png", "b.jpg"] and not demo_set.has_truth
    assert demo_set.encoded() == [b"x", b"x", b"x"] and len(demo_set.form_fields()) == 3
    with pytest.raises(FileNotFoundError):
        folder_set(tmp_path / "nope.jpg", tmp_path / "tests")
    truth = PhotoSet(tmp_path / "ref.jpg", [tmp_path / f"{i}.jpg" for i in range(15)], same=[i < 5 for i in range(15)])
    flags = [True, True, True, False, False] + [True] * 4 + [False] * 6
    assert score_set(truth, flags) == {"accepted": 3, "same": 5, "rejected": 6, "different": 10,
                                       "meets_requirement": True, "perfect": False}
    assert not score_set(truth, [True] * 15)["meets_requirement"]
