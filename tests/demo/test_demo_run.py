"""demo.run / demo.eval end to end with a fake client (the real server: tests/client integration)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import demo.common
from client import VerificationResult
from client.models import EmbeddingResult
from demo import eval as demo_eval
from demo import run as demo_run

REPO = Path(__file__).resolve().parents[2]


class FakeClient:
    """Matches when the photo's folder (LFW: the person) is the reference's; one face per photo,
    none in photos named *nobody*."""

    calls: list = []

    def __init__(self, *args, **kwargs):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def verify(self, reference, tests, threshold=None):
        FakeClient.calls.append(("verify", len(tests)))
        results = []
        for i, path in enumerate(tests, start=1):
            if "nobody" in Path(path).name:
                results.append({"name": f"test_{i}", "match": False, "score": None, "box": None, "faces": 0})
            else:
                same = Path(path).parent == Path(reference).parent
                results.append({"name": f"test_{i}", "match": same, "score": 0.8 if same else 0.1,
                                "box": [10, 10, 40, 50], "faces": 2, "detections": [
                                    {"box": [10, 10, 40, 50], "score": 0.8 if same else 0.1, "confidence": 0.9},
                                    {"box": [70, 5, 20, 25], "score": 0.05, "confidence": 0.7}]})
        return VerificationResult.model_validate({
            "model": "fake 0", "threshold": 0.4 if threshold is None else threshold,
            "reference": {"box": [5, 5, 60, 70], "confidence": 0.9}, "results": results})

    def embed(self, photo):
        FakeClient.calls.append(("embed", 1))
        return EmbeddingResult.model_validate({"model": "fake-embed 0", "faces": [
            {"box": [10, 10, 40, 50], "confidence": 0.9, "embedding": [1.0]},
            {"box": [70, 5, 20, 25], "confidence": 0.7, "embedding": [1.0]}]})


@pytest.fixture
def fake(monkeypatch):
    FakeClient.calls = []
    monkeypatch.setattr(demo.common, "FaceClient", FakeClient)
    return FakeClient


def write_photo(path: Path, seed: int) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 256, size=(90, 120, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def test_lfw_demo_writes_predictions_and_sheet(fake, data_dir, tmp_path, capsys):
    code = demo_run.main(["--seed", "3", "--out", str(tmp_path), "--data-dir", str(data_dir)])
    assert code == 0
    out = capsys.readouterr().out
    assert "accepted 5/5, rejected 10/10" in out
    payload = json.loads((tmp_path / "predictions.json").read_text())
    assert payload["seed"] == 3 and len(payload["tests"]) == 15
    assert payload["summary"]["meets_requirement"] and payload["summary"]["perfect"]
    assert sum(t["truth_same"] for t in payload["tests"]) == 5
    assert all(t["correct"] for t in payload["tests"])
    assert payload["tests"][0]["all_boxes"] == [[10, 10, 40, 50], [70, 5, 20, 25]]
    assert payload["reference"]["file"].startswith("lfw/lfw-deepfunneled/")
    sheet = Image.open(tmp_path / "contact_sheet.png")
    assert sheet.size[0] > 800 and sheet.size[1] > 800
    assert fake.calls.count(("embed", 1)) == 0  # every face comes with the verify answer


def test_own_photos_without_truth(fake, tmp_path, capsys):
    folder = tmp_path / "tests"
    folder.mkdir()
    ref = write_photo(tmp_path / "ref.jpg", 0)
    for i in range(3):
        write_photo(folder / f"p{i}.jpg", i + 1)
    write_photo(folder / "nobody.png", 9)
    out_dir = tmp_path / "out"
    assert demo_run.main(["--reference", str(ref), "--tests", str(folder), "--out", str(out_dir),
                          "--threshold", "0.3"]) == 0
    out = capsys.readouterr().out
    assert "accepted" not in out and "nobody.png" in out
    payload = json.loads((out_dir / "predictions.json").read_text())
    assert "summary" not in payload and payload["threshold"] == 0.3
    assert [t["faces"] for t in payload["tests"]] == [0, 2, 2, 2]  # sorted: nobody.png first
    assert payload["tests"][0]["all_boxes"] == []  # a photo without a face
    assert (out_dir / "contact_sheet.png").is_file()


def test_large_folders_are_one_call_and_runs_write_to_runs(fake, tmp_path, monkeypatch):
    """The client splits large folders; without --out the demo writes to runs/demo, and
    reports/ only with --refresh-examples."""
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "tests"
    folder.mkdir()
    ref = write_photo(tmp_path / "ref.jpg", 0)
    for i in range(35):
        write_photo(folder / f"p{i:02d}.jpg", i + 1)
    assert demo_run.main(["--reference", str(ref), "--tests", str(folder), "--best-box-only"]) == 0
    assert fake.calls == [("verify", 35)]
    names = [t["name"] for t in json.loads((tmp_path / "runs" / "demo" / "predictions.json").read_text())["tests"]]
    assert names == [f"test_{i}" for i in range(1, 36)]
    assert not (tmp_path / "reports").exists()
    assert demo_run.main(["--reference", str(ref), "--tests", str(folder), "--refresh-examples"]) == 0
    assert (tmp_path / "reports" / "demo" / "contact_sheet.png").is_file()


def test_reference_without_tests_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        demo_run.main(["--reference", "x.jpg"])
    assert info.value.code == 2


def test_client_errors_become_a_clear_message(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FACE_VERIFY_URL", "http://127.0.0.1:1")
    ref = write_photo(tmp_path / "ref.jpg", 0)
    code = demo_run.main(["--reference", str(ref), "--tests", str(ref), "--out", str(tmp_path / "o"),
                          "--token", "t"])
    assert code == 3
    assert "cannot reach" in capsys.readouterr().err


def test_eval_reports_the_shares(fake, data_dir, tmp_path, capsys):
    out = tmp_path / "demo_eval.json"
    assert demo_eval.main(["--sets", "3", "--out", str(out), "--data-dir", str(data_dir)]) == 0
    report = json.loads(out.read_text())
    assert report["sets"] == 3 and [s["seed"] for s in report["per_set"]] == [0, 1, 2]
    assert report["share_meeting_requirement"] == 1.0 and report["share_perfect"] == 1.0
    assert report["mean_accepted"] == 5 and report["mean_rejected"] == 10
    assert report["same_scores"]["photos"] == 15 and report["other_scores"]["photos"] == 30
    assert "perfect 15/15: 100%" in capsys.readouterr().out


def test_demo_imports_no_torch():
    code = ("import sys, demo.run, demo.eval; "
            "bad = [m for m in sys.modules if m == 'torch' or m == 'model' or m.startswith('model.')]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_demo_token_starting_with_a_dash(tmp_path, monkeypatch):
    seen = {}

    class Recording(FakeClient):
        def __init__(self, *args, **kwargs):
            seen.update(kwargs)

    monkeypatch.setattr(demo.common, "FaceClient", Recording)
    ref = write_photo(tmp_path / "ref.jpg", 0)
    assert demo_run.main(["--reference", str(ref), "--tests", str(ref), "--out", str(tmp_path / "o"),
                          "--token", "-dash", "--best-box-only"]) == 0
    assert seen["token"] == "-dash"
