"""The photos a benchmark or load test sends: one 1 + 15 verify request.

LFW peopleDevTest (the product's baseline use, as in `make demo`: seed 0) when the data
folder exists, else photos that ship inside scikit-image (astronaut, camera, cat, ... in a
few scenes), so the commands run on a fresh clone too.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from data.lfw import default_data_dir
from data.lfw_sampling import PhotoSet, load_devtest_people, sample_set

TESTS = 15


def lfw_set(data_dir: str | Path, seed: int = 0) -> PhotoSet | None:
    """The `make demo` set (1 + 5 same + 10 others from peopleDevTest), read into memory, or
    None without data."""
    try:
        return sample_set(load_devtest_people(data_dir), data_dir, seed).in_memory()
    except (OSError, ValueError):
        return None


def _jpeg(image: np.ndarray) -> bytes:
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return buffer.tobytes()


def skimage_set(tests: int = TESTS) -> PhotoSet:
    """astronaut as the reference; tests cycle through the astronaut moved/scaled, other
    people (camera man, a group scene) and photos without a face (cat, coffee, rocket)."""
    from skimage import data

    astronaut = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    cameraman = cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2BGR)
    cat = np.ascontiguousarray(data.chelsea()[:, :, ::-1])
    coffee = np.ascontiguousarray(data.coffee()[:, :, ::-1])
    rocket = np.ascontiguousarray(data.rocket()[:, :, ::-1])
    group = np.full((620, 1500, 3), (90, 120, 140), dtype=np.uint8)
    small = cv2.resize(astronaut, None, fx=0.75, fy=0.75, interpolation=cv2.INTER_AREA)
    group[150 : 150 + small.shape[0], 40 : 40 + small.shape[1]] = small
    group[50:562, 500:1012] = cameraman
    group[160 : 160 + cat.shape[0], 1030 : 1030 + cat.shape[1]] = cat
    scaled = cv2.resize(astronaut, None, fx=1.6, fy=1.6, interpolation=cv2.INTER_CUBIC)
    rotated = cv2.warpAffine(astronaut, cv2.getRotationMatrix2D((256, 256), 12, 0.9), (512, 512),
                             borderMode=cv2.BORDER_REFLECT)
    cycle = [group, scaled, cameraman, rotated, cat, astronaut[:, ::-1], coffee, rocket]
    return PhotoSet(_jpeg(astronaut), [_jpeg(cycle[i % len(cycle)]) for i in range(tests)], source="skimage")


def photo_set(data_dir: str | Path | None = None, seed: int = 0) -> PhotoSet:
    return lfw_set(data_dir or default_data_dir(), seed) or skimage_set()
