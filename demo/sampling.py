"""The 1 + 15 protocol: one reference photo, 5 more photos of the same person and one photo
each of 10 other people, all drawn with a fixed seed from LFW's peopleDevTest (never
trained on) among the people with >= 6 photos; the 15 tests are shuffled.

Pure Python (no numpy): the same seed gives the same set on any machine.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

from client.photos import PHOTO_SUFFIXES
from data.lfw import default_data_dir, lfw_photo, people_file, read_people  # noqa: F401 (the demo's names)

SAME = 5  # test photos of the reference person
OTHERS = 10  # test photos of other people, one person each
MIN_PHOTOS = SAME + 1  # the reference person needs 1 + 5 distinct photos
REQUIRED_ACCEPTED = 3  # the requirement: >= 3 of the 5 same accepted ...
REQUIRED_REJECTED = 6  # ... and >= 6 of the 10 others rejected


def load_devtest_people(data_dir: str | Path) -> dict[str, int]:
    path = people_file(data_dir)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: point --data-dir / DATA_DIR at the folder "
                                "holding lfw/ (see the data README)")
    return read_people(path)


def eligible(people: dict[str, int], min_photos: int = MIN_PHOTOS) -> list[str]:
    """People with enough photos, sorted by name (the order never depends on the file)."""
    return sorted(name for name, count in people.items() if count >= min_photos)


@dataclass(frozen=True)
class TestPhoto:
    __test__ = False  # not a pytest class

    path: Path
    person: str | None = None  # None when the truth is unknown (own photos)
    same: bool | None = None  # the reference person? None when unknown


@dataclass(frozen=True)
class DemoSet:
    reference: Path
    tests: list[TestPhoto]
    reference_person: str | None = None
    seed: int | None = None
    meta: dict = field(default_factory=dict)

    @property
    def has_truth(self) -> bool:
        return all(t.same is not None for t in self.tests)

    @property
    def test_paths(self) -> list[Path]:
        return [t.path for t in self.tests]


def sample_set(people: dict[str, int], data_dir: str | Path, seed: int,
               same: int = SAME, others: int = OTHERS) -> DemoSet:
    """One seeded 1 + (same + others) set from `people` (peopleDevTest)."""
    pool = eligible(people, same + 1)
    if len(pool) < others + 1:
        raise ValueError(f"only {len(pool)} people have >= {same + 1} photos; need {others + 1}")
    rng = random.Random(seed)
    person = rng.choice(pool)
    numbers = rng.sample(range(1, people[person] + 1), same + 1)
    tests = [TestPhoto(lfw_photo(data_dir, person, n), person, True) for n in numbers[1:]]
    strangers = rng.sample([p for p in pool if p != person], others)
    tests += [TestPhoto(lfw_photo(data_dir, p, rng.randint(1, people[p])), p, False) for p in strangers]
    rng.shuffle(tests)
    return DemoSet(reference=lfw_photo(data_dir, person, numbers[0]), tests=tests,
                   reference_person=person, seed=seed)


def folder_set(reference: str | Path, tests: str | Path) -> DemoSet:
    """Own photos, no truth: a reference and a folder of test photos (or a list of files)."""
    reference = Path(reference)
    if not reference.is_file():
        raise FileNotFoundError(f"reference photo {reference} not found")
    tests = Path(tests)
    if tests.is_dir():
        files = sorted(p for p in tests.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES
                       and p.resolve() != reference.resolve())
    elif tests.is_file():
        files = [tests]
    else:
        raise FileNotFoundError(f"test folder {tests} not found")
    if not files:
        raise FileNotFoundError(f"no photos ({', '.join(sorted(PHOTO_SUFFIXES))}) in {tests}")
    return DemoSet(reference=reference, tests=[TestPhoto(p) for p in files])


def score_set(demo_set: DemoSet, matches: list[bool]) -> dict:
    """accepted = same-person tests matched, rejected = other-people tests not matched."""
    if not demo_set.has_truth:
        raise ValueError("this set has no truth")
    same = [m for m, t in zip(matches, demo_set.tests) if t.same]
    different = [m for m, t in zip(matches, demo_set.tests) if not t.same]
    accepted, rejected = sum(same), sum(not m for m in different)
    return {
        "accepted": accepted, "same": len(same), "rejected": rejected, "different": len(different),
        "meets_requirement": accepted >= REQUIRED_ACCEPTED and rejected >= REQUIRED_REJECTED,
        "perfect": accepted == len(same) and rejected == len(different),
    }
