"""`make data`: detect + align every LFW and CelebA photo once into a cache of 112x112 JPEG
crops, with a manifest and the pair lists (data.manifest.PAIR_KINDS): pairs_protocol.csv (LFW
pairsDevTrain: the View 1 protocol threshold), pairs_test.csv (pairsDevTest) and
pairs_calibration.csv (the held-out calibration people: the serving threshold); with the full
cache, the held-out CelebA benchmark (data.heldout_build).

LFW: the labelled face is the most central one; CelebA: the largest. Where no face is found
the documented fallback is the centre crop (`model.alignment.center_crop`): the photo is kept,
counted, and marked `detected=0` in the manifest.

Usage: python -m data.face_cache [--smoke] [--data-dir D] [--cache-dir C]
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import json
import multiprocessing
import random
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
from tqdm import tqdm

from data.lfw import people_file, read_people
from data.manifest import MANIFEST_FIELDS, PAIR_FIELDS, read_manifest
from training.params import load_params

_pipeline = None  # one detector per worker process


@dataclass
class Job:
    source: str  # lfw | celeba
    original: str  # path relative to the data folder
    identity: str
    split: str  # devtrain | calibration | devtest | celeba
    file: str  # crop path relative to the cache folder


def _pairs(path: Path) -> list[tuple[str, int, str, int, int]]:
    pairs = []
    for line in path.read_text().splitlines()[1:]:
        parts = line.split()
        if len(parts) == 3:
            pairs.append((parts[0], int(parts[1]), parts[0], int(parts[2]), 1))
        elif len(parts) == 4:
            pairs.append((parts[0], int(parts[1]), parts[2], int(parts[3]), 0))
    return pairs


def lfw_file(name: str, number: int) -> str:
    return f"faces/lfw/{name}/{name}_{number:04d}.jpg"


def hold_out_calibration(jobs: list[Job], fraction: float, max_photos: int, seed: int) -> list[tuple]:
    """Move a seeded `fraction` of the peopleDevTrain people with 2..max_photos photos to the
    `calibration` split (never fine-tuned on) and return their same/different pairs.

    Why: pairsDevTrain's people are the fine-tuning identities, so a threshold fitted there
    is fitted on faces the classifier has learned, and is too strict for new people. The
    serving threshold is fitted on these held-out people instead."""
    by_person: dict[str, list[Job]] = {}
    for job in jobs:
        if job.split == "devtrain":
            by_person.setdefault(job.identity, []).append(job)
    eligible = sorted(name for name, photos in by_person.items() if 2 <= len(photos) <= max_photos)
    rng = random.Random(seed)
    held_out = sorted(rng.sample(eligible, max(1, round(fraction * len(eligible))) if eligible else 0))
    same = []
    for name in held_out:
        for job in by_person[name]:
            job.split = "calibration"
        numbers = [int(j.file[-8:-4]) for j in by_person[name]]
        person_pairs = [(name, a, name, b, 1) for k, a in enumerate(numbers) for b in numbers[k + 1:]]
        same += rng.sample(person_pairs, min(6, len(person_pairs)))
    different = []
    while len(held_out) > 1 and len(different) < len(same):
        a, b = rng.sample(held_out, 2)
        different.append((a, int(rng.choice(by_person[a]).file[-8:-4]),
                          b, int(rng.choice(by_person[b]).file[-8:-4]), 0))
    return same + different


def hold_out_celeba(jobs: list[Job], test_fraction: float, calibration_fraction: float, seed: int) -> None:
    """Move seeded shares of the CelebA identities out of every training split: `celeba_test`
    (the held-out benchmark) and `celeba_calibration` (with the LFW calibration people, what
    the serving threshold is fitted on). Neither is ever pretrained or fine-tuned on."""
    identities = sorted({job.identity for job in jobs if job.split == "celeba"})
    rng = random.Random(seed)
    rng.shuffle(identities)
    n_test, n_calibration = round(test_fraction * len(identities)), round(calibration_fraction * len(identities))
    split_of = {name: "celeba_test" for name in identities[:n_test]}
    split_of |= {name: "celeba_calibration" for name in identities[n_test : n_test + n_calibration]}
    for job in jobs:
        if job.split == "celeba" and job.identity in split_of:
            job.split = split_of[job.identity]


def plan_jobs(data_dir: Path, subset_pairs: int | None = None, calibration: dict | None = None,
              celeba_holdout: dict | None = None) -> tuple[list[Job], dict[str, list]]:
    lfw = data_dir / "lfw"
    train_people, test_people = read_people(people_file(data_dir, "peopleDevTrain")), read_people(people_file(data_dir))
    overlap = set(train_people) & set(test_people)
    if overlap:
        raise ValueError(f"peopleDevTrain and peopleDevTest share {len(overlap)} people")
    pairs = {"protocol": _pairs(lfw / "pairsDevTrain.txt"), "test": _pairs(lfw / "pairsDevTest.txt")}
    identities = (data_dir / "celeba" / "identity_CelebA.txt").read_text().splitlines()
    celeba = [line.split() for line in identities if line.strip()]

    photos: list[tuple[str, int]]
    if subset_pairs:  # smoke: the photos of the first pairs of each list, same + different
        pairs = {k: [p for p in v if p[4] == 1][:subset_pairs // 2] + [p for p in v if p[4] == 0][:subset_pairs // 2]
                 for k, v in pairs.items()}
        photos = sorted({(a, i) for v in pairs.values() for a, i, _, _, _ in v}
                        | {(b, j) for v in pairs.values() for _, _, b, j, _ in v})
        celeba = celeba[:subset_pairs]
    else:
        photos = [(name, i) for people in (train_people, test_people) for name, n in people.items()
                  for i in range(1, n + 1)]

    jobs = [Job("lfw", f"lfw/lfw-deepfunneled/{name}/{name}_{i:04d}.jpg", name,
                "devtrain" if name in train_people else "devtest", lfw_file(name, i))
            for name, i in photos]
    jobs += [Job("celeba", f"celeba/img_celeba/{file}", f"celeba_{identity}", "celeba",
                 f"faces/celeba/{file}") for file, identity in celeba]
    if calibration:
        pairs["calibration"] = hold_out_calibration(jobs, **calibration)
    if celeba_holdout:
        hold_out_celeba(jobs, **celeba_holdout)
    return jobs, pairs


def _init_worker() -> None:
    global _pipeline
    cv2.setNumThreads(1)
    from model.pipeline import FacePipeline

    _pipeline = FacePipeline()


def _process(args: tuple[Job, str, str, int]) -> dict:
    from model.image_io import ImageError, read_image

    job, data_dir, cache_dir, quality = args
    row = asdict(job) | {"detected": 0, "confidence": 0.0, "faces": 0}
    try:
        image = read_image(str(Path(data_dir) / job.original))
    except (ImageError, FileNotFoundError) as exc:
        return row | {"error": str(exc)}
    crop, face = _pipeline.labelled_face(image, "central" if job.source == "lfw" else "largest")
    if face is not None:
        row.update(detected=1, confidence=round(face.confidence, 4))
    out = Path(cache_dir) / job.file
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), crop, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return row


def build(data_dir: Path, cache_dir: Path, subset_pairs: int | None, workers: int, quality: int,
          calibration: dict | None = None, celeba_holdout: dict | None = None) -> dict:
    started = time.time()
    jobs, pairs = plan_jobs(data_dir, subset_pairs, calibration, celeba_holdout)
    manifest_path = cache_dir / "manifest.csv"
    done = {row["file"]: row for row in read_manifest(manifest_path)} if manifest_path.exists() else {}
    todo = [job for job in jobs if job.file not in done or not (cache_dir / job.file).exists()]
    rows = [done[job.file] | {"split": job.split} for job in jobs
            if job.file in done and (cache_dir / job.file).exists()]
    errors = []
    args = [(job, str(data_dir), str(cache_dir), quality) for job in todo]
    with contextlib.ExitStack() as stack:
        if workers > 1:  # spawn, not fork: a forked copy of a threaded parent (torch, pytest) can deadlock
            pool = stack.enter_context(ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("spawn"), initializer=_init_worker))
            results = pool.map(_process, args, chunksize=32)
        else:
            _init_worker()
            results = map(_process, args)
        for row in tqdm(results, total=len(todo), desc="align faces", unit="photo"):
            if "error" in row:
                errors.append(f"{row['original']}: {row.pop('error')}")
                continue
            rows.append(row)
    rows.sort(key=lambda r: r["file"])
    cache_dir.mkdir(parents=True, exist_ok=True)
    with open(manifest_path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, MANIFEST_FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    for kind, kind_pairs in pairs.items():
        with open(cache_dir / f"pairs_{kind}.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(PAIR_FIELDS)
            writer.writerows([lfw_file(a, i), lfw_file(b, j), same] for a, i, b, j, same in kind_pairs)
    report = {"photos": len(rows), "reused": len(jobs) - len(todo), "unreadable": errors,
              "splits": {split: sum(r["split"] == split for r in rows) for split in sorted({r["split"] for r in rows})},
              "pairs": {kind: len(kind_pairs) for kind, kind_pairs in pairs.items()},
              "seconds": round(time.time() - started, 1), "by_source": {}}
    for source in ("lfw", "celeba"):
        subset = [r for r in rows if r["source"] == source]
        found = sum(int(r["detected"]) for r in subset)
        report["by_source"][source] = {"photos": len(subset), "detected": found,
                                       "fallback_center_crop": len(subset) - found,
                                       "detection_rate": round(found / max(1, len(subset)), 4)}
    (cache_dir / "data_report.json").write_text(json.dumps(report, indent=2))
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few hundred photos (tests, CI)")
    parser.add_argument("--data-dir")
    parser.add_argument("--cache-dir")
    args = parser.parse_args()
    params = load_params("data", args.smoke)
    data_dir = Path(args.data_dir or params["data_dir"])
    if not (data_dir / "lfw" / "peopleDevTrain.txt").exists():
        raise SystemExit(f"no LFW protocol files under {data_dir}/lfw (set DATA_DIR)")
    cache_dir = Path(args.cache_dir or params["cache_dir"])
    report = build(data_dir, cache_dir, params.get("subset_pairs"), params["workers"], params["jpeg_quality"],
                   params["calibration"], params["celeba_holdout"])
    if not params.get("subset_pairs"):  # the smoke cache has too few held-out people for trials
        from data.heldout_build import build_heldout

        report["heldout"] = build_heldout(data_dir, cache_dir, params["celeba_holdout"]["seed"])
        (cache_dir / "data_report.json").write_text(json.dumps(report, indent=2))
    shown = {k: v for k, v in report.items() if k != "unreadable"} | {"unreadable": len(report["unreadable"])}
    print(json.dumps(shown, indent=2))


if __name__ == "__main__":
    main()
