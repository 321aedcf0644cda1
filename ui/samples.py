"""The sample-set button: a seeded 1 + 15 set from LFW peopleDevTest (the `make demo`
protocol), when the data folder is there."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from demo.sampling import load_devtest_people, people_file, sample_set


@dataclass(frozen=True)
class Sample:
    reference: Path
    tests: list[Path]
    same: list[int]  # 0-based indices of the tests showing the reference person
    person: str


def available(data_dir: str | Path) -> bool:
    return people_file(data_dir).is_file()


def load(data_dir: str | Path, seed: int) -> Sample:
    demo_set = sample_set(load_devtest_people(data_dir), data_dir, seed)
    return Sample(reference=demo_set.reference, tests=demo_set.test_paths,
                  same=[i for i, t in enumerate(demo_set.tests) if t.same],
                  person=demo_set.reference_person or "")
