"""The 1 + 15 protocol on LFW: one reference photo, 5 more photos of the same person and one
photo each of 10 other people, all drawn with a fixed seed from LFW's peopleDevTest (never
trained on) among the people with >= 6 photos; the 15 tests are shuffled. `make demo`, the web
page's sample button and the bench draw their sets here.

Pure Python (no numpy): the same seed gives the same set on any machine.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, replace
from pathlib import Path

from data.lfw import lfw_photo, people_file, read_people

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
class PhotoSet:
    """One verify request's photos, 1 + N: a reference and N tests, with the truth when known.
    The one photo-set type of the demo, the web page (ui/samples.py) and the bench (bench/photos.py):
    LFW sets come from `sample_set`, own photos from the demo's `folder_set`."""

    reference: Path | bytes  # a photo file, or its encoded bytes (photos made in memory)
    tests: list[Path | bytes]
    same: list[bool] | None = None  # per test: the reference person? None: not known (own photos)
    people: list[str] | None = None  # per test: who it shows (sampled sets)
    reference_person: str | None = None
    seed: int | None = None
    source: str = ""  # where the photos come from, as reports name it

    @property
    def has_truth(self) -> bool:
        return self.same is not None

    def truth(self, index: int) -> bool | None:
        """Test `index` (0-based) shows the reference person? None when not known."""
        return None if self.same is None else self.same[index]

    @property
    def same_indices(self) -> list[int]:
        """0-based indices of the tests that show the reference person."""
        return [i for i, same in enumerate(self.same or []) if same]

    @property
    def all(self) -> list[Path | bytes]:
        return [self.reference, *self.tests]

    def encoded(self) -> list[bytes]:
        """The reference and the tests as encoded photo bytes (files read), as sent over HTTP."""
        return [photo if isinstance(photo, bytes) else Path(photo).read_bytes() for photo in self.all]

    def in_memory(self, source: str | None = None) -> PhotoSet:
        """The same set with every photo read into memory (a load test sends them many times)."""
        reference, *tests = self.encoded()
        return replace(self, reference=reference, tests=tests, source=self.source if source is None else source)

    def form_fields(self) -> dict[str, tuple[str, bytes, str]]:
        """requests' `files=` for one verify request: reference, test_1 ... test_N."""
        reference, *tests = self.encoded()
        fields = {"reference": ("reference.jpg", reference, "image/jpeg")}
        for i, data in enumerate(tests, start=1):
            fields[f"test_{i}"] = (f"test_{i}.jpg", data, "image/jpeg")
        return fields


def sample_set(people: dict[str, int], data_dir: str | Path, seed: int,
               same: int = SAME, others: int = OTHERS) -> PhotoSet:
    """One seeded 1 + (same + others) set from `people` (peopleDevTest)."""
    pool = eligible(people, same + 1)
    if len(pool) < others + 1:
        raise ValueError(f"only {len(pool)} people have >= {same + 1} photos; need {others + 1}")
    rng = random.Random(seed)
    person = rng.choice(pool)
    numbers = rng.sample(range(1, people[person] + 1), same + 1)
    tests = [(lfw_photo(data_dir, person, n), person, True) for n in numbers[1:]]
    strangers = rng.sample([p for p in pool if p != person], others)
    tests += [(lfw_photo(data_dir, p, rng.randint(1, people[p])), p, False) for p in strangers]
    rng.shuffle(tests)
    return PhotoSet(reference=lfw_photo(data_dir, person, numbers[0]), tests=[t[0] for t in tests],
                    same=[t[2] for t in tests], people=[t[1] for t in tests], reference_person=person, seed=seed,
                    source=f"lfw peopleDevTest seed {seed}")


def score_set(photo_set: PhotoSet, matches: list[bool]) -> dict:
    """accepted = same-person tests matched, rejected = other-people tests not matched."""
    if not photo_set.has_truth:
        raise ValueError("this set has no truth")
    same = [m for m, truth in zip(matches, photo_set.same, strict=False) if truth]
    different = [m for m, truth in zip(matches, photo_set.same, strict=False) if not truth]
    accepted, rejected = sum(same), sum(not m for m in different)
    return {
        "accepted": accepted, "same": len(same), "rejected": rejected, "different": len(different),
        "meets_requirement": accepted >= REQUIRED_ACCEPTED and rejected >= REQUIRED_REJECTED,
        "perfect": accepted == len(same) and rejected == len(different),
    }
