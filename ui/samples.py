"""The sample-set button: a seeded 1 + 15 set from LFW peopleDevTest (the `make demo`
protocol, demo.sampling.PhotoSet), when the data folder is there."""
from __future__ import annotations

from pathlib import Path

from demo.sampling import PhotoSet, load_devtest_people, people_file, sample_set


def available(data_dir: str | Path) -> bool:
    return people_file(data_dir).is_file()


def load(data_dir: str | Path, seed: int) -> PhotoSet:
    return sample_set(load_devtest_people(data_dir), data_dir, seed)
