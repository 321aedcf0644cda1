"""`make cluster-eval`: how well faces are grouped into people -> reports/clusters.json (+ plot).

1. The faces (evaluation/cluster_faces.py): every photo of the calibration people (the LFW and
   CelebA people the serving threshold was fitted on) and of the people never trained on (LFW
   peopleDevTest, the held-out CelebA identities), one labelled face each, embedded as served.
2. Choose, on the calibration people only: for each algorithm its parameter (the false-link
   rate the threshold is sized with, the largest group that joins by centroid, or a library's
   own knob), and the algorithm: the highest pairwise F among settings with pairwise precision
   >= PRECISION_FLOOR (ties: the first in the grid). The client's grouping
   (client/people/grouping.py) is the one chosen, with its setting as the default.
3. Measure on the never-trained-on people: the chosen algorithm with the chosen setting, and
   the others (average linkage and connected components at the same threshold rule, DBSCAN
   with Immich's defaults, HDBSCAN) with their calibration setting and, separately,
   with the setting that is best on the measured people themselves (an upper bound for them,
   reported as such). Pairwise and BCubed precision / recall / F, groups, seconds.
4. Crowded: the same faces put several to a synthetic photo (3-6 different people each), so
   the one-person-per-photo rule can act; measured with and without it.
5. --scale: seconds and peak memory to group 100k and 1M embeddings (the measured people's
   plus synthetic people) and to add 1,000 new faces to each grouped collection
   (bench/cluster_scale.py, each size in a process of its own, checkpointed).

Faces the detector missed (the centre crop was embedded) or below the size / confidence
floors are left unassigned, as PeopleIndex does; they count as groups of their own.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.cluster_scale import SCALE_ADD, SCALE_SIZES, collection, scale_figures
from client.people.grouping import (
    DEFAULT_SMALL_GROUP,
    average_linkage,
    chinese_whispers,
    components,
    group_faces,
    similar_pairs,
)
from client.people.index import MIN_CONFIDENCE, MIN_FACE_SIZE
from client.people.threshold import grouping_threshold
from evaluation.cluster_faces import CALIBRATION_SPLITS, MEASURED_SPLITS, FaceSet, load_faces, served_far_table
from evaluation.cluster_metrics import scores

PRECISION_FLOOR = 0.99  # a wrong merge shows one person's photos under another's name
FALSE_LINK_RATES = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
SMALL_GROUPS = (1, 2, 3)  # groups of at most this many faces join by centroid
CENTROID_JOINS = "Chinese whispers + centroid joins"
DBSCAN_EPS = (0.3, 0.35, 0.4, 0.45, 0.5, 0.55, 0.6, 0.65)  # cosine distance
IMMICH = {"eps": 0.5, "min_samples": 3}  # Immich's face clustering defaults (max distance 0.5, min faces 3)
HDBSCAN_SIZES = (2, 3, 5)
PHOTO_PEOPLE = (3, 6)  # people per synthetic crowded photo
PAIR_CHECK_FACES = 100_000  # the scale collection whose approximate pairs are checked against all pairs


# ---------------------------------------------------------------------- the algorithms

def with_noise_alone(labels: np.ndarray) -> np.ndarray:
    """Library noise (-1) as groups of one."""
    labels = labels.copy()
    noise = labels < 0
    labels[noise] = labels.max(initial=-1) + 1 + np.arange(noise.sum())
    return labels


def dbscan(embeddings: np.ndarray, eps: float, min_samples: int) -> np.ndarray:
    from sklearn.cluster import DBSCAN

    return with_noise_alone(DBSCAN(eps=eps, min_samples=min_samples, metric="cosine").fit_predict(embeddings))


def hdbscan(embeddings: np.ndarray, min_cluster_size: int) -> np.ndarray:
    from sklearn.cluster import HDBSCAN

    distance = np.clip(1.0 - embeddings.astype(np.float64) @ embeddings.T.astype(np.float64), 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    found = HDBSCAN(min_cluster_size=min_cluster_size, metric="precomputed", copy=False).fit_predict(distance)
    return with_noise_alone(found)


class Method:
    """An algorithm with a grid of settings; `run(embeddings, setting, photos)` -> labels.
    `rate_of(setting)`: the false-link rate of a method whose threshold the client's rule sizes
    (None for the others)."""

    def __init__(self, name: str, settings: list, run: Callable, describe: Callable = str,
                 rate_of: Callable | None = None) -> None:
        self.name, self.settings, self.run, self.describe, self.rate_of = name, settings, run, describe, rate_of


def methods(threshold: float, table: list[dict]) -> list[Method]:
    """The candidates; the threshold-sized ones read the served calibration table."""
    def sized(rate: float, faces: int) -> float:
        return grouping_threshold(threshold, table, faces, rate)

    def rate(rate: float) -> float:
        return rate

    return [
        Method("average linkage", list(FALSE_LINK_RATES),
               lambda e, rate, photos: average_linkage(e, sized(rate, len(e)), photos=photos),
               lambda rate: f"false-link rate {rate:g}", rate),
        Method("connected components", list(FALSE_LINK_RATES),
               lambda e, rate, photos: components(len(e), *similar_pairs(e, sized(rate, len(e)))),
               lambda rate: f"false-link rate {rate:g}", rate),
        Method("Chinese whispers", list(FALSE_LINK_RATES),
               lambda e, rate, photos: chinese_whispers(e, sized(rate, len(e)), photos=photos),
               lambda rate: f"false-link rate {rate:g}", rate),
        Method(CENTROID_JOINS, [(rate, small) for rate in FALSE_LINK_RATES for small in SMALL_GROUPS],
               lambda e, setting, photos: group_faces(e, sized(setting[0], len(e)), small=setting[1], photos=photos),
               lambda setting: f"false-link rate {setting[0]:g}, groups of <= {setting[1]} join by centroid",
               lambda setting: setting[0]),
        Method("DBSCAN", [(eps, 3) for eps in DBSCAN_EPS] + [(eps, 1) for eps in DBSCAN_EPS],
               lambda e, setting, photos: dbscan(e, *setting),
               lambda setting: f"eps {setting[0]:g}, min_samples {setting[1]}"),
        Method("HDBSCAN", list(HDBSCAN_SIZES), lambda e, size, photos: hdbscan(e, size),
               lambda size: f"min_cluster_size {size}"),
    ]


# ---------------------------------------------------------------------- running them

def eligible(faces: FaceSet) -> np.ndarray:
    """The faces PeopleIndex would group: found by the detector, large and confident enough."""
    return (faces.confidence >= MIN_CONFIDENCE) & (faces.face_size >= MIN_FACE_SIZE)


def run_method(method: Method, setting, faces: FaceSet, photos: np.ndarray | None = None) -> dict:
    """Groups the eligible faces; the others stay alone. Scores against the identities."""
    keep = eligible(faces)
    started = time.perf_counter()
    labels = np.asarray(method.run(faces.embeddings[keep], setting, None if photos is None else photos[keep]))
    seconds = time.perf_counter() - started
    full = np.empty(len(keep), dtype=np.int64)
    full[keep] = labels
    full[~keep] = labels.max(initial=-1) + 1 + np.arange((~keep).sum())
    return {"method": method.name, "setting": method.describe(setting)} | scores(faces.identities, full) | {
        "people": int(len(np.unique(faces.identities))), "seconds": round(seconds, 2)}


def best(rows: list[dict]) -> dict:
    """The highest pairwise F among rows with pairwise precision >= PRECISION_FLOOR (all rows if none)."""
    floor = [row for row in rows if row["pairwise_precision"] >= PRECISION_FLOOR] or rows
    return max(floor, key=lambda row: (row["pairwise_f"], row["bcubed_f"]))


def sweep(method: Method, faces: FaceSet, photos: np.ndarray | None = None, log=print) -> list[dict]:
    rows = []
    for setting in method.settings:
        rows.append(run_method(method, setting, faces, photos) | {"value": setting})
        log(f"  {method.name}, {rows[-1]['setting']}: pairwise F {rows[-1]['pairwise_f']}, "
            f"precision {rows[-1]['pairwise_precision']}, BCubed F {rows[-1]['bcubed_f']}")
    return rows


def crowded_photos(identities: np.ndarray, seed: int = 0) -> np.ndarray:
    """A synthetic photo id per face: faces dealt, shuffled, into photos of 3-6 faces of
    different people each (a face that would repeat a person in the photo being filled
    waits for the next photo)."""
    rng = np.random.default_rng(seed)
    waiting = list(rng.permutation(len(identities)))
    photos = np.full(len(identities), -1, dtype=np.int64)
    photo = 0
    while waiting:
        size, people, held = int(rng.integers(PHOTO_PEOPLE[0], PHOTO_PEOPLE[1] + 1)), set(), []
        while waiting and len(people) < size:
            face = waiting.pop()
            if identities[face] in people:
                held.append(face)
                continue
            people.add(identities[face])
            photos[face] = photo
        waiting += held[::-1]
        if not people:  # only one person's faces are left: one photo each
            photos[waiting.pop()] = photo
        photo += 1
    return photos


def same_person_spread(faces: FaceSet) -> float:
    """The synthetic people's per-dimension spread for these faces (cluster_scale.same_person_spread)."""
    from bench.cluster_scale import same_person_spread as spread

    return spread(faces.embeddings, faces.identities)


def summary(faces: FaceSet) -> dict:
    return {"faces": int(len(faces.identities)), "people": int(len(np.unique(faces.identities))),
            "unassigned": int((~eligible(faces)).sum()),
            "by_split": {split: int((faces.splits == split).sum()) for split in np.unique(faces.splits).tolist()}}


def evaluate(faces: FaceSet, threshold: float, table: list[dict], scale: bool = False,
             scale_sizes: tuple[int, ...] = SCALE_SIZES, log=print) -> dict:
    calibration, measured = faces.of_splits(CALIBRATION_SPLITS), faces.of_splits(MEASURED_SPLITS)
    candidates = methods(threshold, table)
    report: dict = {"served_threshold": threshold, "far_thresholds": table, "precision_floor": PRECISION_FLOOR,
                    "calibration": summary(calibration) | {"sweeps": {}}, "measured": summary(measured)}
    chosen_settings = {}
    for method in candidates:
        log(f"calibration: {method.name}")
        rows = sweep(method, calibration, log=log)
        report["calibration"]["sweeps"][method.name] = [{k: v for k, v in row.items() if k != "value"} for row in rows]
        chosen_settings[method.name] = best(rows)
    winner = max(candidates, key=lambda m: (chosen_settings[m.name]["pairwise_f"], chosen_settings[m.name]["bcubed_f"]))
    sized = [m for m in candidates if m.rate_of is not None]  # the threshold rule's methods
    grouping = winner if winner in sized else sized[0]  # what the client ships; crowded and scale use it
    setting = chosen_settings[grouping.name]["value"]
    rate = grouping.rate_of(setting)
    report["chosen"] = {"algorithm": winner.name, "setting": chosen_settings[winner.name]["setting"],
                        "false_link_rate": rate if winner is grouping else None,
                        "small_group": setting[1] if winner is grouping and isinstance(setting, tuple) else None,
                        "calibration": {k: v for k, v in chosen_settings[winner.name].items() if k != "value"},
                        "threshold_at_measured_size": grouping_threshold(
                            threshold, table, int(eligible(measured).sum()), rate)}
    results, upper = [], []
    for method in candidates:
        log(f"measured: {method.name}")
        results.append(run_method(method, chosen_settings[method.name]["value"], measured)
                       | {"chosen_on": "calibration people"})
        if method.name == "DBSCAN":
            results.append(run_method(method, (IMMICH["eps"], IMMICH["min_samples"]), measured)
                           | {"chosen_on": "Immich's defaults"})
        if method.name != winner.name:
            rows = sweep(method, measured, log=log)
            upper.append({k: v for k, v in best(rows).items() if k != "value"}
                         | {"chosen_on": "measured people (an upper bound)"})
    report["measured"]["results"] = results + upper
    photos = crowded_photos(measured.identities)
    described = grouping.describe(setting)
    report["crowded"] = {"photos": int(photos.max() + 1), "people_per_photo": list(PHOTO_PEOPLE), "results": [
        run_method(grouping, setting, measured, photos) | {"setting": f"{described}, one person per photo"},
        run_method(grouping, setting, measured) | {"setting": f"{described}, photos ignored"}]
        + [row for row in report["measured"]["results"] if row["method"] != grouping.name
           and row["chosen_on"] == "calibration people"]}
    report["crowded"]["same_photo_pairs_grouped"] = same_photo_pairs(grouping, setting, measured, photos)
    if scale:
        log("scale")
        keep = eligible(measured)
        report["scale"] = scale_figures(measured.embeddings[keep], measured.identities[keep], threshold, table, rate,
                                        scale_sizes, log=log)
        log("scale: the nearest-neighbour index's pairs against all pairs")
        report["scale"]["pair_check"] = pair_check(measured.embeddings[keep], measured.identities[keep], threshold,
                                                   table, rate, log=log)
    return report


def pair_check(real: np.ndarray, real_people: np.ndarray, threshold: float, table: list[dict], rate: float,
               faces: int = PAIR_CHECK_FACES, log=print) -> dict:
    """The pairs the nearest-neighbour index finds (client/people/pairs.py) against those of
    comparing every face with every other, in the scale collection of `faces` faces at its
    grouping threshold: the share of the pairs found, pairs it keeps that are not among them
    (none: each is kept on its exact similarity), and the seconds each way took."""
    from bench.cluster_scale import same_person_spread
    from client.people.pairs import approximate_pairs

    vectors, _, order = collection(real, real_people, same_person_spread(real, real_people), faces, SCALE_ADD)
    base = vectors[order[:faces]]
    at = grouping_threshold(threshold, table, faces, rate)
    started = time.perf_counter()
    exact = similar_pairs(base, at, approximate_above=faces)
    exact_seconds = time.perf_counter() - started
    started = time.perf_counter()
    found = approximate_pairs(base, at)
    approximate_seconds = time.perf_counter() - started
    exact_keys, found_keys = exact[0] * faces + exact[1], found[0] * faces + found[1]
    recall = float(np.isin(exact_keys, found_keys).mean()) if len(exact_keys) else 1.0
    check = {"faces": faces, "threshold": at, "pairs": int(len(exact_keys)), "found": int(len(found_keys)),
             "recall": round(recall, 5), "not_among_all_pairs": int((~np.isin(found_keys, exact_keys)).sum()),
             "all_pairs_seconds": round(exact_seconds, 1), "approximate_seconds": round(approximate_seconds, 1)}
    log(f"  {faces:,} faces: {check['found']:,} of {check['pairs']:,} pairs found (recall {check['recall']}) in "
        f"{approximate_seconds:.0f} s, all pairs in {exact_seconds:.0f} s")
    return check


def same_photo_pairs(grouping: Method, setting, measured: FaceSet, photos: np.ndarray) -> dict:
    """Pairs of faces of one synthetic photo put in one group, with and without the rule."""
    keep = eligible(measured)
    found = {}
    for label, given in (("one person per photo", photos[keep]), ("photos ignored", None)):
        groups = np.asarray(grouping.run(measured.embeddings[keep], setting, given))
        _, counts = np.unique(groups.astype(np.int64) * (photos.max() + 1) + photos[keep], return_counts=True)
        found[label] = int(np.sum(counts * (counts - 1) // 2))
    return found


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    small = report["chosen"].get("small_group") or DEFAULT_SMALL_GROUP
    for colour, name in enumerate((CENTROID_JOINS, "Chinese whispers", "average linkage", "connected components")):
        rows = report["calibration"]["sweeps"][name]
        if name == CENTROID_JOINS:  # the chosen group size's rows
            rows = [r for r in rows if r["setting"].endswith(f"<= {small} join by centroid")]
            name = f"{name} (<= {small})"
        ax.plot(FALSE_LINK_RATES, [r["pairwise_precision"] for r in rows], "-o", color=f"C{colour}",
                label=f"{name}: precision")
        ax.plot(FALSE_LINK_RATES, [r["pairwise_recall"] for r in rows], "--s", color=f"C{colour}",
                label=f"{name}: recall")
    ax.set_xscale("log")
    ax.set_xlabel("false-link rate (the threshold sized to the collection)")
    ax.set_ylabel("pairwise")
    ax.set_title("Grouping the calibration people")
    ax.legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    from training.params import load_params

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=load_params("data", False)["data_dir"])
    parser.add_argument("--cache-dir", default="cache/clusters", help="embeddings cache (resumable)")
    parser.add_argument("--weights", default="weights/face_embedder.pt")
    parser.add_argument("--out", default="reports/clusters.json")
    parser.add_argument("--plot", default="reports/plots/clusters.png")
    parser.add_argument("--plot-only", action="store_true", help="redraw the plot from --out")
    parser.add_argument("--scale", action="store_true",
                        help="also time grouping --scale-sizes faces and adding 1,000 to each")
    parser.add_argument("--scale-sizes", default=",".join(str(size) for size in SCALE_SIZES),
                        help="collection sizes for --scale, comma-separated")
    args = parser.parse_args()
    if args.plot_only:
        plot(json.loads(Path(args.out).read_text()), Path(args.plot))
        return
    faces = load_faces(args.data_dir, args.cache_dir, args.weights)
    threshold, table = served_far_table(args.weights)
    sizes = tuple(int(size) for size in args.scale_sizes.split(","))
    command = "make cluster-eval" + (" ARGS=--scale" if args.scale else "")
    if args.scale and sizes != SCALE_SIZES:
        command = f'make cluster-eval ARGS="--scale --scale-sizes {args.scale_sizes}"'
    logging.basicConfig(level=logging.INFO, format="  %(asctime)s %(message)s", datefmt="%H:%M:%S")
    report = {"command": command}
    report |= evaluate(faces, threshold, table, scale=args.scale, scale_sizes=sizes,
                       log=lambda line: print(line, flush=True))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    plot(report, Path(args.plot))
    print(f"wrote {args.out} and {args.plot}")


if __name__ == "__main__":
    main()
