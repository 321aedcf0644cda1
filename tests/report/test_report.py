"""report.report and report.plot_data on fake run outputs (no training, no data)."""
from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from model import sface
from report import plot_data, report
from tests.pipeline.pipeline_support import REPO, VARIANTS, write_fake_outputs


def build(root: Path) -> str:
    return report.build(root / "reports", root / "reports" / "REPORT.md", root / "cache")


def test_report_from_every_output_shows_the_numbers_figures_and_commands(tmp_path):
    write_fake_outputs(tmp_path, runs=False)
    text = build(tmp_path)
    assert json.loads((tmp_path / "reports/data.json").read_text())["photos"] == 19533  # snapshot for git
    for expected in ("accuracy **97.30%**", "`sface-simclr-arcface-20250101`", "13,233", "6,270", "30 |",
                     "15,514", "12,012", "1,980", "40 min 00 s", "45 min 00 s", "OpenCV SFace",
                     f"{sface.EMBEDDING_DIM}-d",
                     "112x112", "TAR at FAR 0.1% 64.00%", "first 24 blocks frozen",
                     "| (a) SimCLR + ArcFace | 0.900 |", "SimCLR backbone | 71.20%",
                     "pretrained start (before SimCLR) | 59.80%",
                     "accepted 5/5", "96.00%", "verify_1_plus_15.p50_ms | 812.5 |", "`make bench`",
                     "0.3571: false-match rate 0.001 on 120000 impostor pairs of 250 held-out people)",
                     "| calibration | 1,400 |", "| celeba_test | 1,260 |", "| calibration | 1,900 |",
                     "| LFW View 1 protocol: pairsDevTrain | 0.4102 | 95.50% |", "97.80%",
                     "Held-out CelebA (60 people, 1,260 photos, serving threshold): pair accuracy 96.10%, "
                     "ROC AUC 0.9912; plain 60/60 trials pass (100.00%), 41 perfect (68.33%); "
                     "composited 57/60 trials pass (95.00%), 30 perfect (50.00%).",
                     "| 0.3571 | 0.0987% | 97.12% |", "| 0.4500 | 0.0002% | 90.20% |",
                     "| (h) SFace alone | 93.0% |", "reproduce: `make transfer-ablation`",
                     "`load.phases`:\n\n| concurrency | latency_s.p50 |\n|---|---|\n| 4 | 0.43 |\n| 8 | 0.64 |"):
        assert expected in text, expected
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert sorted(links) == sorted(["roc.png", "ablation_roc.png", "pretrain_loss.png", "finetune_curves.png",
                                    "demo/contact_sheet.png"])
    assert all((tmp_path / "reports" / link).is_file() for link in links)
    # the one missing input says so, with its command; nothing else is missing
    assert re.findall(r"_Not run yet:_ (.*)", text) == ["`reports/load.json`. `make loadtest` writes it."]
    assert build(tmp_path) == text  # deterministic: no dates, same inputs -> same file


def test_experiments_not_served_show_what_differs_and_their_command(tmp_path):
    write_fake_outputs(tmp_path, runs=False)
    served = json.loads((tmp_path / "reports/finetune.json").read_text())["params"]
    (tmp_path / "reports/experiments").mkdir()
    (tmp_path / "reports/experiments/longer.json").write_text(json.dumps({
        "params": served | {"epochs": 40, "out": "runs/x"}, "run": {"epochs": 40.0}, "note": "overfits",
        "pairsDevTest": {"accuracy": 0.868, "roc_auc": 0.933, "tar_at_far_1pct": 0.456},
        "command": "python -m finetune.train --set epochs=40"}))
    text = build(tmp_path)
    assert ("| `longer.json` | epochs=40 | 40.0 | 86.80% | 0.9330 | 45.60% | "
            "`python -m finetune.train --set epochs=40` |") in text
    assert "`longer.json`: overfits" in text


def test_report_without_any_run_lists_what_to_run(tmp_path):
    (tmp_path / "cache").mkdir()
    text = build(tmp_path)
    missing = re.findall(r"_Not run yet:_ .*`(make [\w-]+)` writes it\.", text)
    for command in ("make data", "make evaluate", "make ablation", "make transfer-ablation", "make pretrain",
                    "make finetune", "make demo", "make demo-eval", "make bench", "make loadtest"):
        assert command in missing, command
    assert "![" not in text
    assert "pretraining from params.yaml (not run yet), fine-tuning from params.yaml (not run yet)" in text
    assert not (tmp_path / "reports/data.json").exists()


def test_the_model_section_follows_the_served_architecture(tmp_path):
    """The from-scratch MobileNetV3-small run reports its own size; a SimCLR run from random init
    its random start."""
    write_fake_outputs(tmp_path, runs=False)
    for name, changes in (("finetune.json", {"arch": "sface", "flip": True}), ("pretrain.json", {"init": "random"})):
        path = tmp_path / "reports" / name
        doc = json.loads(path.read_text())
        doc["params"] |= changes
        if name == "finetune.json":  # the weights' own config describes the model, not the arch setting
            doc["run"]["config"] = {"name": "mobilenet_v3_small", "embedding_dim": 256, "input_size": 112,
                                    "dropout": 0.2}
        if name == "pretrain.json":
            doc["pairsDevTest"]["random_init"] = doc["pairsDevTest"].pop("before")
        path.write_text(json.dumps(doc))
    text = build(tmp_path)
    for expected in ("MobileNetV3-small", "3.29 M", "256-d", "horizontal-flip fusion", "random init | 59.80%"):
        assert expected in text, expected
    assert "OpenCV SFace" not in text


def test_a_command_recorded_in_the_json_wins(tmp_path):
    write_fake_outputs(tmp_path, runs=False)
    metrics = tmp_path / "reports/metrics.json"
    metrics.write_text(json.dumps(json.loads(metrics.read_text()) | {"command": "make evaluate ARGS=--x"}))
    assert "(`make evaluate ARGS=--x`)" in build(tmp_path)


def test_plot_data_writes_dvc_friendly_csvs_and_keeps_what_it_cannot_redo(tmp_path, monkeypatch):
    write_fake_outputs(tmp_path)
    monkeypatch.chdir(tmp_path)  # the stages' outputs are relative to the working directory
    done = plot_data.export(Path("reports"))
    assert set(done.values()) == {"written"}
    plots = tmp_path / "reports/plots"

    def rows(name):
        with open(plots / name, newline="") as handle:
            return list(csv.DictReader(handle))

    assert list(rows("pretrain_loss.csv")[0]) == ["step", "loss", "lr"] and len(rows("pretrain_loss.csv")) == 100
    assert list(rows("finetune_loss.csv")[0]) == ["step", "loss", "batch_accuracy"]
    roc = rows("roc.csv")
    assert float(roc[0]["false_accept_rate"]) == 0 and float(roc[-1]["true_accept_rate"]) == 1
    assert all(float(r["threshold"]) <= 1 for r in roc)  # no +inf for the plotting library
    ablation = rows("ablation_roc.csv")
    assert list(ablation[0]) == ["false_accept_rate", *VARIANTS]
    # dvc.yaml's ablation_roc plot names the same columns
    spec = (REPO / "dvc.yaml").read_text()
    assert f"[{', '.join(VARIANTS)}]" in spec

    # a fresh clone has no runs/: those CSVs are kept as committed, the rest redone
    before = (plots / "pretrain_loss.csv").read_text()
    for run in ("runs/pretrain/checkpoint.pt", "runs/finetune/history.json"):
        (tmp_path / run).unlink()
    done = plot_data.export(Path("reports"))
    assert done["pretrain_loss.csv"].startswith("skipped") and done["roc.csv"] == "written"
    assert (plots / "pretrain_loss.csv").read_text() == before


@pytest.mark.slow
def test_make_report_runs_both_scripts_from_a_given_directory(tmp_path):
    """The commands `make report` (and the dvc report stage) run, on fakes, in a temp dir."""
    write_fake_outputs(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for module in ("report.plot_data", "report.report"):
        subprocess.run([sys.executable, "-m", module], cwd=tmp_path, env=env, check=True, capture_output=True)
    assert (tmp_path / "reports/REPORT.md").read_text().startswith("# Training report")
    assert sorted(p.name for p in (tmp_path / "reports/plots").iterdir()) == [
        "ablation_roc.csv", "finetune_loss.csv", "pretrain_loss.csv", "roc.csv"]
