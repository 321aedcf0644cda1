"""LFW's files in the data folder: where the folder is, its people files and photo paths.
Pure Python (no numpy, no torch): the data stage, the demo, the bench and the web page read them."""
from __future__ import annotations

import os
from pathlib import Path


def default_data_dir() -> Path:
    """$DATA_DIR, else params.yaml `data.data_dir` (what `make` passes too)."""
    if os.environ.get("DATA_DIR"):
        return Path(os.environ["DATA_DIR"])
    from training.params import load_params

    return Path(load_params("data")["data_dir"])


def people_file(data_dir: str | Path, which: str = "peopleDevTest") -> Path:
    return Path(data_dir) / "lfw" / f"{which}.txt"


def lfw_photo(data_dir: str | Path, name: str, number: int) -> Path:
    """`lfw/lfw-deepfunneled/<Name>/<Name>_<NNNN>.jpg` (numbers are 1-based)."""
    return Path(data_dir) / "lfw" / "lfw-deepfunneled" / name / f"{name}_{number:04d}.jpg"


def read_people(path: str | Path) -> dict[str, int]:
    """LFW people file: first line the count, then `Name<TAB>number_of_photos`."""
    lines = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()]
    if not lines:
        raise ValueError(f"{path} is empty")
    expected = int(lines[0])
    people: dict[str, int] = {}
    for line in lines[1:]:
        name, count = line.split()
        people[name] = int(count)
    if len(people) != expected:
        raise ValueError(f"{path} announces {expected} people but lists {len(people)}")
    return people
