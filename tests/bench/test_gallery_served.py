"""`make gallery-served-bench` in its smoke mode, end to end: a real TorchServe with face-embed and
face-gallery, a 1,000-face store built offline and searched by the server and in process, LFW
photos enrolled both ways. It checks that the bench runs and reports; its figures mean nothing."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bench.gallery_served import main, synthetic_around
from data.lfw import default_data_dir
from report.results import GalleryServedReport
from scripts.torchserve import model_archives, read_config

REPO = Path(__file__).resolve().parents[2]


def test_synthetic_faces_sit_at_the_asked_similarity_to_a_real_one():
    import numpy as np

    rng = np.random.default_rng(1)
    real = rng.standard_normal((5, 128)).astype(np.float32)
    real /= np.linalg.norm(real, axis=1, keepdims=True)
    made = synthetic_around(real, 12, 0.25, rng)
    assert made.shape == (12, 128)
    assert np.allclose(np.linalg.norm(made, axis=1), 1.0, atol=1e-5)
    seeds = real[np.arange(12) % 5]
    assert np.allclose((made * seeds).sum(axis=1), 0.25, atol=1e-4)


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_smoke_run_reports_both_sides_at_1000_faces(tmp_path):
    if shutil.which("java") is None:
        pytest.skip("TorchServe needs Java >= 11 on PATH")
    archives = model_archives(read_config(REPO / "config.properties"))
    if not all((REPO / "model_store" / archives[m]).is_file() for m in ("face-embed", "face-gallery")):
        pytest.skip("model_store/ lacks the archives: make archive")
    if not (default_data_dir() / "lfw" / "lfw-deepfunneled").is_dir():
        pytest.skip("no LFW photos (make data)")
    out = tmp_path / "served.json"
    assert main(["--smoke", "--work", str(tmp_path / "work"), "--out", str(out)]) == 0
    text = out.read_text()
    report = GalleryServedReport.model_validate_json(text)
    assert report.smoke is True and report.machine.cpus >= 1
    (row,) = report.identify
    assert row.size == 1000
    raw = json.loads(text)["identify"][0]
    for side in ("served", "in_process"):
        got = raw[side]
        assert got["identified"] == got["latency_s"]["n"] == 5, got  # every query named its person
        assert got["load"]["clients"] == 8 and got["load"]["errors"] == 0 and got["load"]["requests"] > 0
        assert got["load"]["identified"] == got["load"]["requests"]
        assert 0 < got["latency_s"]["p50"] <= got["latency_s"]["p95"]
    enrolment = json.loads(text)["enrolment"]
    assert enrolment["people"] == 3 and enrolment["served"]["enrolled"] == enrolment["in_process"]["enrolled"] > 0
    assert report.enrolment.served.photos_per_second > 0 < report.enrolment.in_process.photos_per_second
