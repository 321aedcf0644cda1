"""The scale figures of `make cluster-eval ARGS=--scale` (bench/cluster_eval.py): for each size
(`--scale-sizes`, default 100,000 and 1,000,000 faces), the seconds PeopleIndex.assign takes to
group a collection from nothing and then to place `SCALE_ADD` new faces without re-grouping,
the peak memory of each, and the scores of the grouping.

The collection is the measured people's faces plus synthetic people: a random direction each,
2-10 faces scattered around it as widely as the measured people's faces are.

Each size runs in a process of its own (`python -m bench.cluster_scale`, started here), so its
peak memory is its own. Each size's figures are kept in the checkpoint folder
(cache/clusters/scale/) with a key of the code and inputs that made them: a rerun of unchanged
code takes them from there, and a size interrupted after its grouping resumes from the saved
grouped collection (placing the new faces only).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from client.people.index import PeopleIndex
from evaluation.cluster_metrics import scores

SCALE_SIZES = (100_000, 1_000_000)
SCALE_ADD = 1_000
CHECKPOINTS = Path("cache/clusters/scale")
REPO = Path(__file__).resolve().parents[1]
# what the figures depend on besides their inputs: a change here makes every size run again
SOURCES = ("client/people", "client/models.py", "evaluation/cluster_metrics.py", "bench/cluster_scale.py")


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def same_person_spread(vectors: np.ndarray, people: np.ndarray) -> float:
    """Per-dimension noise that gives synthetic people the measured people's mean same-person
    similarity: for unit centre + noise of variance s^2 per dimension in D dimensions, the
    expected cosine of two faces is about 1 / (1 + D s^2)."""
    _, person = np.unique(people, return_inverse=True)
    sums = np.zeros((person.max() + 1, vectors.shape[1]))
    np.add.at(sums, person, vectors)
    counts = np.bincount(person)
    many = counts >= 2
    same = ((np.sum(sums[many] ** 2, axis=1) - counts[many]) / (counts[many] * (counts[many] - 1))).mean()
    return float(np.sqrt((1 / same - 1) / vectors.shape[1]))


def collection(real: np.ndarray, real_people: np.ndarray, spread: float, faces: int, add: int,
               seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`faces` + `add` embeddings (the real ones first, then synthetic people), their people,
    and the order they are added in: order[:faces] grouped first, the rest added after."""
    rng = np.random.default_rng(seed)
    need = faces + add - len(real)
    sizes = rng.integers(2, 11, size=need // 2)
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), need) + 1]
    centres = unit(rng.standard_normal((len(sizes), real.shape[1])).astype(np.float32))
    synthetic = unit(np.repeat(centres, sizes, axis=0)
                     + spread * rng.standard_normal((int(sizes.sum()), real.shape[1])).astype(np.float32))[:need]
    vectors = np.concatenate([real, synthetic.astype(np.float32)])
    people = np.concatenate([real_people, np.repeat([f"synthetic_{k}" for k in range(len(sizes))], sizes)[:need]])
    return vectors, people, rng.permutation(len(vectors))


def reset_peak() -> None:
    """Starts a new peak-memory window (Linux: the kernel's high-water mark of this process)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:  # elsewhere the peak is the whole process's
        pass


def peak_gb() -> float:
    """The process's peak resident memory since reset_peak (or its start), GB."""
    scale = 1 if sys.platform == "darwin" else 1024  # ru_maxrss: bytes on macOS, KB on Linux
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1e9, 2)


def add_photos(index: PeopleIndex, prefix: str, vectors: np.ndarray) -> None:
    """Each vector as a photo `<prefix>_<k>` holding that one face."""
    from client.models import EmbeddedFace

    for k, vector in enumerate(vectors):
        index.add_photo(f"{prefix}_{k}", f"{prefix}_{k}", [EmbeddedFace(box=(0, 0, 100, 100), confidence=1.0,
                                                                        embedding=vector.tolist())])


def timed_assign(index: PeopleIndex) -> tuple[float, float]:
    """Seconds `index.assign()` took and its peak memory (GB)."""
    reset_peak()
    started = time.perf_counter()
    index.assign()
    return time.perf_counter() - started, peak_gb()


def collection_scores(index: PeopleIndex, people: np.ndarray, real: int, order: np.ndarray) -> dict:
    """Scores of the index's faces (face k is vectors[order[k]], of person people[k]): all of
    them, and the measured (real) faces alone (vectors[:real])."""
    groups = np.array([face.group for face in index.faces], dtype=object)
    is_real = order[:len(groups)] < real
    return {"all": scores(people, groups), "measured_faces": scores(people[is_real], groups[is_real])}


def run_size(real: np.ndarray, real_people: np.ndarray, spread: float, faces: int, add: int, threshold: float,
             table: list[dict], rate: float, checkpoint: Path | None = None, key: str = "", log=print) -> dict:
    """Groups `faces` embeddings from nothing, then places `add` more: seconds, peak memory and
    scores of each. With `checkpoint` (a folder), the grouped collection is saved there and a
    rerun with the same `key` starts from it."""
    vectors, people, order = collection(real, real_people, spread, faces, add)
    base, added = vectors[order[:faces]], vectors[order[faces:]]
    state = checkpoint / f"scale_{faces}_grouped" if checkpoint else None
    partial = checkpoint / f"scale_{faces}_grouped.json" if checkpoint else None
    if partial and partial.exists() and json.loads(partial.read_text()).get("key") == key:
        started = time.perf_counter()
        index = PeopleIndex.load(state)
        found = json.loads(partial.read_text())["figures"]
        log(f"  {faces:,}: the grouped collection read from {state} ({time.perf_counter() - started:.0f} s)")
    else:
        index = PeopleIndex(threshold=threshold, far_thresholds=table, false_link_rate=rate)
        add_photos(index, "photo", base)
        held = peak_gb()
        log(f"  {faces:,}: collection made ({held} GB), grouping at threshold {index.grouping_threshold():.4f}")
        seconds, peak = timed_assign(index)
        found = {"faces": faces, "threshold": index.grouping_threshold(),
                 "pairs": "exact" if faces <= pair_switch() else "approximate", "groups": len(index.members()),
                 "group_seconds": round(seconds, 1), "collection_rss_gb": held, "group_peak_rss_gb": peak,
                 "scores": {"grouped": collection_scores(index, people[order[:faces]], len(real), order)}}
        log(f"  {faces:,}: grouped in {seconds:.1f} s (peak {peak} GB), {found['groups']:,} groups, measured "
            f"faces' pairwise F {found['scores']['grouped']['measured_faces']['pairwise_f']}")
        if state and partial:
            index.save(state)
            partial.write_text(json.dumps({"key": key, "figures": found}) + "\n")
    add_photos(index, "new", added)
    seconds, peak = timed_assign(index)
    found = found | {"added_faces": len(added), "add_seconds": round(seconds, 2), "add_peak_rss_gb": peak,
                     "groups_after_adding": len(index.members())}
    found["scores"]["after_adding"] = collection_scores(index, people[order], len(real), order)
    log(f"  {faces:,}: {len(added):,} added in {seconds:.2f} s (peak {peak} GB), measured faces' pairwise F "
        f"{found['scores']['after_adding']['measured_faces']['pairwise_f']}")
    return found


def pair_switch() -> int:
    from client.people import pairs

    return pairs.APPROXIMATE_ABOVE


def code_key(real: np.ndarray, settings: dict) -> str:
    """What a size's figures depend on: the code (SOURCES) and the inputs."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    digest.update(np.ascontiguousarray(real).tobytes())
    for source in SOURCES:
        path = REPO / source
        for file in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            digest.update(file.relative_to(REPO).as_posix().encode() + file.read_bytes())
    return digest.hexdigest()


def scale_figures(real: np.ndarray, real_people: np.ndarray, threshold: float, table: list[dict], rate: float,
                  sizes: tuple[int, ...] = SCALE_SIZES, add: int = SCALE_ADD, checkpoints: Path | None = CHECKPOINTS,
                  in_process: bool = False, log=print) -> dict:
    """The figures of each size (run_size), each in a process of its own unless `in_process`,
    taken from `checkpoints` where unchanged code made them already."""
    spread = same_person_spread(real, real_people)
    found: dict = {"real_faces": int(len(real)), "synthetic_spread": round(spread, 4), "added_faces": add,
                   "sizes": []}
    if checkpoints:
        checkpoints.mkdir(parents=True, exist_ok=True)
        np.savez(checkpoints / "input.npz", real=real, real_people=real_people)
    for faces in sizes:
        settings = {"faces": faces, "add": add, "threshold": threshold, "table": table, "rate": rate,
                    "spread": spread, "real_people": real_people.tolist()}
        key = code_key(real, settings)
        done = checkpoints / f"scale_{faces}.json" if checkpoints else None
        if done and done.exists() and json.loads(done.read_text()).get("key") == key:
            found["sizes"].append(json.loads(done.read_text())["figures"])
            log(f"  {faces:,}: figures of this code read from {done}")
            continue
        started = time.time()
        if in_process or done is None:
            figures = run_size(real, real_people, spread, faces, add, threshold, table, rate, checkpoints, key, log)
        else:
            (checkpoints / f"scale_{faces}.settings.json").write_text(json.dumps(settings | {"key": key}))
            subprocess.run([sys.executable, "-m", "bench.cluster_scale", "--checkpoints", str(checkpoints.resolve()),
                            "--faces", str(faces)], check=True, cwd=REPO)
            figures = json.loads(done.read_text())["figures"]
        log(f"  {faces:,}: done in {time.time() - started:.0f} s")
        found["sizes"].append(figures)
    return found


def main() -> None:
    """One size, in its own process (scale_figures starts it): reads the inputs scale_figures
    left in the checkpoint folder, writes scale_<faces>.json there."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoints", type=Path, default=CHECKPOINTS)
    parser.add_argument("--faces", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="  %(asctime)s %(message)s", datefmt="%H:%M:%S", stream=sys.stdout)
    inputs = np.load(args.checkpoints / "input.npz")
    settings = json.loads((args.checkpoints / f"scale_{args.faces}.settings.json").read_text())
    figures = run_size(inputs["real"], inputs["real_people"], settings["spread"], settings["faces"], settings["add"],
                       settings["threshold"], settings["table"], settings["rate"], args.checkpoints, settings["key"],
                       log=lambda line: print(line, flush=True))
    done = args.checkpoints / f"scale_{args.faces}.json"
    done.with_suffix(".tmp").write_text(json.dumps({"key": settings["key"], "figures": figures}, indent=1) + "\n")
    done.with_suffix(".tmp").replace(done)


if __name__ == "__main__":
    main()
