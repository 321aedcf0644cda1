"""make cluster-eval: the grouping scores on toy labelings worked out by hand, the crowded
photos, the baselines, the choice on calibration people only; the photo plan on the real data."""
from __future__ import annotations

import numpy as np
import pytest

from bench import cluster_eval
from evaluation.cluster_faces import CALIBRATION_SPLITS, MEASURED_SPLITS, FaceSet, planned_photos
from evaluation.cluster_metrics import bcubed, pairwise, scores
from tests.conftest import needs_data

TABLE = [{"far": 0.01, "threshold": 0.26}, {"far": 0.001, "threshold": 0.35}, {"far": 0.0001, "threshold": 0.42}]


def test_pairwise_and_bcubed_on_a_toy_labelling():
    # people A = {0, 1, 2}, B = {3, 4}; groups X = {0, 1}, Y = {2, 3, 4}
    truth, groups = ["A", "A", "A", "B", "B"], [0, 0, 1, 1, 1]
    # pairs grouped: X 1 + Y 3 = 4, of which (0,1) and (3,4) are one person: precision 2/4;
    # one person's pairs: A 3 + B 1 = 4, of which 2 grouped: recall 2/4
    assert pairwise(truth, groups) == pytest.approx({"precision": 0.5, "recall": 0.5, "f": 0.5})
    # per face, precision: 1, 1, 1/3, 2/3, 2/3 -> 11/15; recall: 2/3, 2/3, 1/3, 1, 1 -> 11/15
    assert bcubed(truth, groups) == pytest.approx({"precision": 11 / 15, "recall": 11 / 15, "f": 11 / 15})


def test_everyone_alone_and_everyone_together():
    truth = ["A", "A", "B", "C"]
    alone = scores(truth, [0, 1, 2, 3])
    assert alone["pairwise_precision"] == 1.0 and alone["pairwise_recall"] == 0.0 and alone["pairwise_f"] == 0.0
    assert alone["bcubed_precision"] == 1.0 and alone["bcubed_recall"] == pytest.approx(0.75, abs=1e-4)  # A's 1/2
    assert alone["groups"] == 4
    together = scores(truth, [7, 7, 7, 7])
    assert together["pairwise_precision"] == pytest.approx(1 / 6, abs=1e-4) and together["pairwise_recall"] == 1.0
    # per face precision: A 2/4, A 2/4, B 1/4, C 1/4 -> 6/16
    assert together["bcubed_precision"] == pytest.approx(0.375, abs=1e-4) and together["bcubed_recall"] == 1.0


def test_crowded_photos_hold_three_to_six_different_people():
    identities = np.repeat(np.arange(40), 5)
    photos = cluster_eval.crowded_photos(identities)
    assert (photos >= 0).all()
    for photo in np.unique(photos):
        people = identities[photos == photo]
        assert len(set(people.tolist())) == len(people)  # never one person twice
    sizes = np.bincount(photos)
    assert sizes.max() <= 6 and np.mean(sizes >= 3) > 0.9  # a few last ones may be short


def test_noise_becomes_groups_of_one():
    labels = cluster_eval.with_noise_alone(np.array([0, -1, 0, -1, 1]))
    assert labels[0] == labels[2] and len(np.unique(labels)) == 4


def synthetic_faces(people: int, per_person: int, spread: float, seed: int, split: str) -> FaceSet:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((people, 128))
    identities = np.repeat(np.arange(people), per_person)
    vectors = centres[identities] / np.linalg.norm(centres[identities], axis=1, keepdims=True)
    vectors = vectors + spread * rng.standard_normal(vectors.shape)
    count = len(identities)
    return FaceSet((vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32),
                   np.array([f"{split}_{p}" for p in identities]), np.array([f"{split}/{k}.jpg" for k in range(count)]),
                   np.array([split] * count), np.full(count, 0.9, dtype=np.float32),
                   np.full(count, 100.0, dtype=np.float32))


def test_the_same_person_spread_is_recovered():
    faces = synthetic_faces(30, 6, 0.07, 0, "devtest")
    assert cluster_eval.same_person_spread(faces) == pytest.approx(0.07, rel=0.15)


def test_the_library_baselines_find_well_separated_people():
    faces = synthetic_faces(10, 5, 0.05, 1, "devtest")
    for labels in (cluster_eval.dbscan(faces.embeddings, 0.5, 3), cluster_eval.hdbscan(faces.embeddings, 3)):
        assert scores(faces.identities, labels)["pairwise_f"] == 1.0


def test_evaluate_chooses_on_calibration_people_and_measures_the_others(monkeypatch):
    monkeypatch.setattr(cluster_eval, "FALSE_LINK_RATES", (0.01, 0.1))
    monkeypatch.setattr(cluster_eval, "DBSCAN_EPS", (0.4, 0.5))
    monkeypatch.setattr(cluster_eval, "HDBSCAN_SIZES", (2,))
    calibration = synthetic_faces(12, 4, 0.07, 2, "calibration")
    measured = synthetic_faces(15, 4, 0.07, 3, "devtest")
    faces = FaceSet(*(np.concatenate([getattr(calibration, name), getattr(measured, name)])
                      for name in FaceSet.__dataclass_fields__))
    report = cluster_eval.evaluate(faces, 0.35, TABLE, log=lambda line: None)
    assert report["calibration"]["faces"] == 48 and report["measured"]["faces"] == 60
    assert report["chosen"]["algorithm"] in {m.name for m in cluster_eval.methods(0.35, TABLE)}
    chosen_on = {row["chosen_on"] for row in report["measured"]["results"]}
    assert chosen_on == {"calibration people", "Immich's defaults", "measured people (an upper bound)"}
    average = next(row for row in report["measured"]["results"] if row["method"] == "average linkage")
    assert average["pairwise_f"] > 0.9 and average["people"] == 15
    crowded = report["crowded"]
    assert crowded["same_photo_pairs_grouped"]["one person per photo"] == 0


@needs_data
def test_the_plan_keeps_calibration_and_measured_people_apart():
    from tests.conftest import DATA_DIR

    jobs = planned_photos(DATA_DIR, CALIBRATION_SPLITS + MEASURED_SPLITS)
    calibration = {job.identity for job in jobs if job.split in CALIBRATION_SPLITS}
    measured = {job.identity for job in jobs if job.split in MEASURED_SPLITS}
    assert calibration and measured and not calibration & measured
    listed = (DATA_DIR / "lfw" / "peopleDevTest.txt").read_text().splitlines()[1:]
    test_people = {line.split("\t")[0] for line in listed}
    assert {job.identity for job in jobs if job.split == "devtest"} == test_people
