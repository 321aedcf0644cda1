"""The aligned-face cache built from real LFW/CelebA photos (smoke subset)."""
from pathlib import Path

import cv2

from data.face_cache import build
from data.manifest import read_manifest, read_pairs, training_rows
from training.params import load_params


def people(path: Path) -> set[str]:
    return {line.split("\t")[0] for line in path.read_text().splitlines()[1:] if line.strip()}


def test_manifest_counts_and_every_crop_exists(smoke_cache):
    rows = read_manifest(smoke_cache / "manifest.csv")
    assert len(rows) > 100
    assert {r["source"] for r in rows} == {"lfw", "celeba"}
    for row in rows:
        crop = cv2.imread(str(smoke_cache / row["file"]))
        assert crop is not None and crop.shape == (112, 112, 3)


def test_lfw_faces_are_detected(smoke_cache):
    lfw = [r for r in read_manifest(smoke_cache / "manifest.csv") if r["source"] == "lfw"]
    assert sum(int(r["detected"]) for r in lfw) / len(lfw) > 0.97


def test_splits_follow_the_protocol_and_never_leak_devtest(smoke_cache, data_dir):
    test_people = people(data_dir / "lfw/peopleDevTest.txt")
    rows = read_manifest(smoke_cache / "manifest.csv")
    for row in rows:
        if row["source"] == "lfw":
            assert (row["split"] == "devtest") == (row["identity"] in test_people)
    for use in ("pretrain", "finetune", "finetune+celeba"):
        assert not {r["identity"] for r in training_rows(smoke_cache, use)} & test_people
    assert {r["split"] for r in training_rows(smoke_cache, "pretrain")} == {"devtrain", "celeba"}
    assert {r["split"] for r in training_rows(smoke_cache, "finetune")} == {"devtrain"}


def test_calibration_people_are_held_out_of_fine_tuning(smoke_cache):
    rows = read_manifest(smoke_cache / "manifest.csv")
    calibration = {r["identity"] for r in rows if r["split"] == "calibration"}
    assert calibration
    assert not calibration & {r["identity"] for r in training_rows(smoke_cache, "finetune+celeba")}
    identity_of = {r["file"]: r["identity"] for r in rows}
    pairs = read_pairs(smoke_cache, "calibration")
    assert {p[2] for p in pairs} == {0, 1}
    for a, b, same in pairs:
        assert identity_of[a] in calibration and identity_of[b] in calibration
        assert (identity_of[a] == identity_of[b]) == bool(same)


def test_every_pair_refers_to_an_existing_entry(smoke_cache):
    files = {r["file"] for r in read_manifest(smoke_cache / "manifest.csv")}
    for kind in ("protocol", "test"):
        pairs = read_pairs(smoke_cache, kind)
        assert pairs and {p[2] for p in pairs} == {0, 1}
        assert all(a in files and b in files for a, b, _ in pairs)
    split_of = {r["file"]: r["split"] for r in read_manifest(smoke_cache / "manifest.csv")}
    assert {split_of[a] for a, _, _ in read_pairs(smoke_cache, "test")} == {"devtest"}
    assert {split_of[a] for a, _, _ in read_pairs(smoke_cache, "protocol")} <= {"devtrain", "calibration"}


def test_rebuilding_reuses_the_cache(smoke_cache, data_dir):
    params = load_params("data", smoke=True)
    report = build(data_dir, smoke_cache, params["subset_pairs"], 1, 95, params["calibration"])
    assert report["reused"] == report["photos"]
    assert report["by_source"]["lfw"]["fallback_center_crop"] + report["by_source"]["lfw"]["detected"] == \
        report["by_source"]["lfw"]["photos"]


def test_held_out_celeba_people_reach_no_training_split():
    from data.face_cache import Job, hold_out_celeba
    from data.manifest import HELD_OUT_SPLITS, TRAINING_SPLITS

    jobs = [Job("celeba", f"o{i}", f"celeba_{i % 50}", "celeba", f"f{i}") for i in range(500)]
    hold_out_celeba(jobs, test_fraction=0.2, calibration_fraction=0.1, seed=0)
    split_of = {}
    for job in jobs:  # one split per identity
        assert split_of.setdefault(job.identity, job.split) == job.split
    counts = {s: sum(v == s for v in split_of.values()) for s in ("celeba", "celeba_test", "celeba_calibration")}
    assert counts == {"celeba": 35, "celeba_test": 10, "celeba_calibration": 5}
    assert not set(HELD_OUT_SPLITS) & {s for splits in TRAINING_SPLITS.values() for s in splits}


def test_the_committed_cache_keeps_held_out_people_out_of_training(smoke_cache):
    from data.manifest import HELD_OUT_SPLITS

    rows = read_manifest(smoke_cache / "manifest.csv")
    held_out = {r["identity"] for r in rows if r["split"] in HELD_OUT_SPLITS}
    for use in ("pretrain", "finetune", "finetune+celeba"):
        assert not held_out & {r["identity"] for r in training_rows(smoke_cache, use)}


def test_an_older_cache_with_pairs_threshold_csv_still_reads(tmp_path):
    from data.manifest import pairs_file

    (tmp_path / "pairs_threshold.csv").write_text("file_a,file_b,same\na.jpg,b.jpg,1\n")
    assert read_pairs(tmp_path, "protocol") == [("a.jpg", "b.jpg", 1)]
    (tmp_path / "pairs_protocol.csv").write_text("file_a,file_b,same\nc.jpg,d.jpg,0\n")
    assert pairs_file(tmp_path, "protocol").name == "pairs_protocol.csv"
    assert read_pairs(tmp_path, "protocol") == [("c.jpg", "d.jpg", 0)]
