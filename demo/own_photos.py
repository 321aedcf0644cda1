"""Own photos as a 1 + N set (`python -m demo.run --reference me.jpg --tests photos/`); the
seeded LFW sets are data/lfw_sampling.py's."""
from __future__ import annotations

from pathlib import Path

from client.photos import PHOTO_SUFFIXES
from data.lfw_sampling import PhotoSet


def folder_set(reference: str | Path, tests: str | Path) -> PhotoSet:
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
    return PhotoSet(reference=reference, tests=files, source=str(tests))
