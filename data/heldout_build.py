"""Builds the held-out CelebA benchmark's trials and composites (`data.heldout`)."""
from __future__ import annotations

import json
import random
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from data.heldout import COMPOSITES_FILE, TRIALS_FILE
from data.manifest import read_manifest

SAME, OTHERS, MIN_PHOTOS = 5, 10, 6
CANVAS = (800, 1280)  # height, width


def plan_trials(rows: list[dict], seed: int) -> list[dict]:
    """One trial per identity with >= 6 photos: its first photo is the reference, the next 5
    the same person, and 10 photos of 10 other held-out people the others."""
    by_person: dict[str, list[str]] = {}
    for row in rows:
        by_person.setdefault(row["identity"], []).append(row["file"])
    rng = random.Random(seed)
    people = sorted(by_person)
    trials = []
    for person in people:
        files = sorted(by_person[person])
        if len(files) < MIN_PHOTOS:
            continue
        others = rng.sample([p for p in people if p != person], OTHERS)
        tests = [(f, True) for f in files[1 : 1 + SAME]] + [(rng.choice(sorted(by_person[p])), False) for p in others]
        trials.append({"person": person, "reference": files[0],
                       "tests": [{"file": f, "same": same} for f, same in tests]})
    return trials


def clutter(rng: np.random.Generator) -> np.ndarray:
    """A busy background: noise, coloured shapes and photos of objects (scikit-image's)."""
    from skimage import data

    height, width = CANVAS
    canvas = rng.integers(40, 216, size=(height // 8, width // 8, 3), dtype=np.uint8)
    canvas = cv2.resize(canvas, (width, height), interpolation=cv2.INTER_LINEAR)
    for _ in range(12):
        color = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        cv2.circle(canvas, (x, y), int(rng.integers(20, 120)), color, -1) if rng.random() < 0.5 else \
            cv2.rectangle(canvas, (x, y), (x + int(rng.integers(30, 250)), y + int(rng.integers(30, 250))), color, -1)
    for make in (data.coffee, data.chelsea, data.rocket):
        thing = np.ascontiguousarray(make()[:, :, ::-1])
        thing = cv2.resize(thing, None, fx=0.45, fy=0.45, interpolation=cv2.INTER_AREA)
        y, x = int(rng.integers(0, height - thing.shape[0])), int(rng.integers(0, width - thing.shape[1]))
        canvas[y : y + thing.shape[0], x : x + thing.shape[1]] = thing
    return canvas


def composite(test: np.ndarray, distractors: list[np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """The test photo and the distractors, each scaled 0.9-1.6x, in separate columns of a cluttered canvas."""
    canvas = clutter(rng)
    photos = [test] + distractors
    order = rng.permutation(len(photos))
    column = CANVAS[1] // len(photos)
    for slot, index in enumerate(order):
        photo = cv2.resize(photos[index], None, fx=(s := float(rng.uniform(0.9, 1.6))), fy=s,
                           interpolation=cv2.INTER_LINEAR)
        photo = photo[: CANVAS[0], : column]
        x = slot * column + int(rng.integers(0, max(1, column - photo.shape[1])))
        y = int(rng.integers(0, max(1, CANVAS[0] - photo.shape[0])))
        canvas[y : y + photo.shape[0], x : x + photo.shape[1]] = photo
    return canvas


def build_heldout(data_dir: Path, cache_dir: Path, seed: int = 0) -> dict:
    from model.image_io import read_image
    from model.pipeline import FacePipeline

    rows = [r for r in read_manifest(cache_dir / "manifest.csv") if r["split"] == "celeba_test"]
    original = {r["file"]: r["original"] for r in rows}
    identity = {r["file"]: r["identity"] for r in rows}
    trials = plan_trials(rows, seed)
    pipeline, rng, prng = FacePipeline(), np.random.default_rng(seed), random.Random(seed)
    crops, owners = [], []  # owners[i] = (trial, test) of crops[i]
    for t, trial in enumerate(tqdm(trials, desc="held-out composites", unit="trial")):
        for j, test in enumerate(trial["tests"]):
            busy = {trial["person"], identity[test["file"]]}
            pool = [f for f in sorted(original) if identity[f] not in busy]
            distractors = [read_image(str(data_dir / original[f])) for f in prng.sample(pool, prng.choice((1, 2)))]
            scene = composite(read_image(str(data_dir / original[test["file"]])), distractors, rng)
            faces = pipeline.faces(scene, max_faces=16)
            test["composite_faces"] = len(faces)
            crops += [f.crop for f in faces]
            owners += [(t, j)] * len(faces)
    (cache_dir / TRIALS_FILE).write_text(json.dumps(trials, indent=1) + "\n")
    np.savez_compressed(cache_dir / COMPOSITES_FILE, crops=np.asarray(crops, dtype=np.uint8).reshape(-1, 112, 112, 3),
                        owners=np.asarray(owners, dtype=np.int32).reshape(-1, 2))
    return {"trials": len(trials), "composite_faces": len(crops)}


