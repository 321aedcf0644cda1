"""The sample-set button: a seeded 1 + 15 set from LFW peopleDevTest (the `make demo`
protocol, data/lfw_sampling.py), when the data folder is there."""
from __future__ import annotations

from pathlib import Path

from data.lfw import people_file
from data.lfw_sampling import PhotoSet, load_devtest_people, sample_set


def available(data_dir: str | Path) -> bool:
    return people_file(data_dir).is_file()


def load(data_dir: str | Path, seed: int) -> PhotoSet:
    return sample_set(load_devtest_people(data_dir), data_dir, seed)
