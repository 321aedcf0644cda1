"""Helpers for the pipeline tests (fixtures in conftest.py): dvc.yaml read with params.yaml (real or smoke values),
a "fresh clone" (the files git would hand out: no cache/, runs/, .venv), dvc in a
subprocess, and fake run outputs with the shapes the stages write."""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DVC = Path(sys.executable).parent / "dvc"
DATA_DIR = Path(os.environ.get("DATA_DIR", REPO.parent / "shared" / "data"))  # as tests/conftest.py
VARIANTS = ["simclr_arcface", "random_arcface", "simclr_softmax", "lfw_people_only", "one_photo_people",
            "colour_augment",
            "simclr_only"]


class Pipeline:
    """dvc.yaml with `${section.key}` resolved against `params` (None values: unresolvable)."""

    def __init__(self, params: dict, dvc_yaml: Path = REPO / "dvc.yaml") -> None:
        self.params = params
        self.spec = yaml.safe_load(dvc_yaml.read_text())
        self.stages: dict = self.spec["stages"]

    def value(self, dotted: str):
        node = self.params
        for key in dotted.split("."):
            node = node[key]
        return node

    def interpolate(self, text: str) -> str | None:
        values = {m: self.value(m) for m in re.findall(r"\$\{([^}]+)\}", text)}
        if any(v is None for v in values.values()):
            return None
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(values[m.group(1)]), text)

    def commands(self, stage: str) -> list[str]:
        cmd = self.stages[stage]["cmd"]
        return [self.interpolate(c) for c in ([cmd] if isinstance(cmd, str) else cmd)]

    def paths(self, stage: str, *kinds: str) -> list[tuple[str | None, str, dict]]:
        """(resolved path or None, raw path, options) of a stage's deps/outs/metrics/plots."""
        found = []
        for kind in kinds:
            for entry in self.stages[stage].get(kind, []):
                raw, options = (next(iter(entry.items())) if isinstance(entry, dict) else (entry, None))
                found.append((self.interpolate(raw), raw, options or {}))
        return found

    def outputs(self, stage: str):
        return self.paths(stage, "outs", "metrics", "plots")


def module_file(name: str) -> Path | None:
    """The repository file of a module name (None: not ours, e.g. torch)."""
    parts = name.split(".")
    for candidate in (REPO.joinpath(*parts).with_suffix(".py"), REPO.joinpath(*parts, "__init__.py")):
        if candidate.is_file():
            return candidate
    return None


def local_imports(module: str) -> set[Path]:
    """The repository files a module imports, transitively (lazy imports in functions too)."""
    import ast

    seen: set[Path] = set()
    todo = [module]
    while todo:
        path = module_file(todo.pop())
        if path is None or path in seen:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                todo += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                todo.append(node.module)
                todo += [f"{node.module}.{alias.name}" for alias in node.names]  # `from pkg import mod`
    return seen


def real_params() -> dict:
    return yaml.safe_load((REPO / "params.yaml").read_text())


def smoke_params(data_dir: Path) -> dict:
    """Every section with its smoke overrides applied, as `--smoke` runs see them."""
    from training.params import load_params

    params = {section: load_params(section, smoke=True) for section in real_params()}
    params["data"]["data_dir"] = str(data_dir)
    return params


def run_dvc(*args: str, cwd: Path, check: bool = True, timeout: int = 300) -> subprocess.CompletedProcess:
    if not DVC.exists():
        pytest.skip(f"{DVC} is missing (make install)")
    env = {**os.environ, "DVC_NO_ANALYTICS": "1"}
    done = subprocess.run([str(DVC), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        pytest.fail(f"dvc {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return done


def make_fresh_clone(dest: Path, data_dir: Path | None = None) -> Path:
    """What a clone of this working tree would hold (tracked + not-ignored files), in a new
    git repository. data_dir: point params.yaml data.data_dir at it (the default is a path
    relative to the repository, which does not follow the copy)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=REPO, capture_output=True, check=False)
    if listed.returncode != 0:
        pytest.skip("not a git working tree")
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = REPO / name
        if source.is_file():  # deleted-but-tracked files and vanishing ones are skipped
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True)
    if data_dir is not None:
        params = dest / "params.yaml"
        text, n = re.subn(r"^(  data_dir: ).*$", rf"\g<1>{data_dir}", params.read_text(), count=1, flags=re.M)
        assert n == 1, "params.yaml has no data.data_dir"
        params.write_text(text)
    return dest


# ---------------------------------------------------------------------------------------
# Fake run outputs, shaped like what the stages write (data/face_cache.py,
# pretrain/train.py, finetune/{train,evaluate,ablation,transfer_ablation}.py, demo/).

def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((40, 60, 3), 200, np.uint8))


def _pairs_csv(path: Path, rng: np.random.Generator, n: int = 40) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    same = np.arange(n) % 2
    scores = np.clip(0.3 * same + rng.normal(0.2, 0.15, n), -1, 1)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file_a", "file_b", "same", "score", "predicted_same"])
        for i in range(n):
            writer.writerow([f"faces/lfw/A/A_{i:04d}.jpg", f"faces/lfw/B/B_{i:04d}.jpg", same[i],
                             f"{scores[i]:.5f}", int(scores[i] >= 0.35)])


def _metrics(accuracy: float) -> dict:
    return {"accuracy": accuracy, "roc_auc": 0.9912, "tar_at_far_1pct": 0.81, "tar_at_far_0.1pct": 0.64, "eer": 0.042,
            "threshold": 0.3571, "pairs": 1000, "threshold_pairs_accuracy": 0.97}


def _trials(passed: int, perfect: int, trials: int = 60) -> dict:
    return {"trials": trials, "passed": passed, "perfect": perfect, "pass_rate": passed / trials,
            "perfect_rate": perfect / trials, "verdict_accuracy": 0.97}


def _evaluation(accuracy: float) -> dict:
    """What evaluation.metrics.evaluate returns: LFW pairsDevTest, calibration, held-out CelebA."""
    return _metrics(accuracy) | {
        "threshold_source": "false-match rate 0.001 on 120000 impostor pairs of 250 held-out people",
        "calibration": {"far": 0.001, "people": 250, "photos": 1900, "impostor_pairs": 120000, "genuine_pairs": 5000,
                        "tar": 0.93},
        "protocol_threshold": 0.4102, "accuracy_protocol_threshold": 0.955, "best_possible_accuracy": 0.978,
        "heldout_celeba": {"people": 60, "photos": 1260, "pairs": _metrics(0.961) | {"pairs": 793170},
                           "trials_plain": _trials(60, 41), "trials_composited": _trials(57, 30)}}


def write_fake_outputs(root: Path, runs: bool = True) -> Path:
    """Fake outputs of every stage under root (cache/, reports/, and with runs=True runs/),
    at the real params.yaml paths. Leaves out reports/load.json (a not-run-yet case)."""
    rng = np.random.default_rng(0)
    reports = root / "reports"
    (root / "cache").mkdir(parents=True, exist_ok=True)
    (root / "cache/data_report.json").write_text(json.dumps({
        "photos": 19533, "reused": 0, "unreadable": [], "seconds": 47.1,
        "splits": {"calibration": 1400, "celeba": 4410, "celeba_calibration": 630, "celeba_test": 1260,
                   "devtest": 3708, "devtrain": 8125},
        "pairs": {"protocol": 2200, "test": 1000, "calibration": 1900},
        "by_source": {"lfw": {"photos": 13233, "detected": 13233, "fallback_center_crop": 0, "detection_rate": 1.0},
                      "celeba": {"photos": 6300, "detected": 6270, "fallback_center_crop": 30,
                                 "detection_rate": 0.9952}},
        "heldout": {"trials": 60, "composite_faces": 2210}}))
    reports.mkdir(parents=True, exist_ok=True)
    params = real_params()
    pre_params = {k: v for k, v in params["pretrain"].items() if k != "smoke"} | {"smoke": False}
    (reports / "pretrain.json").write_text(json.dumps({
        "params": pre_params,
        "run": {"steps": 1180, "epochs": 9.8, "photos": 15514, "seconds": 2400, "images_per_second": 125.9},
        "pairsDevTest": {"simclr": _evaluation(0.712),
                         ("random_init" if str(pre_params["init"]).startswith("random:") else "before"):
                             _evaluation(0.598)},
        "command": "make pretrain"}))
    fine_params = {k: v for k, v in params["finetune"].items() if k != "smoke"} | {"smoke": False}
    (reports / "finetune.json").write_text(json.dumps({
        "params": fine_params,
        "run": {"classes": 1980, "photos": 12012, "steps": 2790, "epochs": 29.8, "seconds": 2700,
                "images_per_second": 132.3},
        "pairsDevTest": _evaluation(0.9731), "evals": [[5, 0.91], [10, 0.95]], "command": "make finetune"}))
    (reports / "metrics.json").write_text(json.dumps(_evaluation(0.973) | {
        "model": "sface-simclr-arcface-20250101", "serving_threshold": 0.3571, "flip_fusion": False,
        "threshold_table": {"photos": 3708, "impostor_pairs": 6850000, "genuine_pairs": 24000, "rows": [
            {"threshold": 0.3, "far": 0.0123, "tar": 0.991}, {"threshold": 0.3571, "far": 0.000987, "tar": 0.9712},
            {"threshold": 0.45, "far": 2.1e-06, "tar": 0.902}]},
        "command": "make evaluate"}))
    (reports / "predictions_10.json").write_text(json.dumps({"threshold": 0.3571, "pairs": [
        {"photo_a": f"P{i}/P{i}_0001.jpg", "photo_b": f"P{i}/P{i}_0002.jpg", "score": 0.5 - i / 20,
         "prediction": "same" if i < 5 else "different", "truth": "same" if i < 5 else "different"}
        for i in range(10)]}))
    _pairs_csv(reports / "pairs_predictions.csv", rng)
    results = {v: _evaluation(0.9 + i / 100) | {"minutes": 10.0 if v != "simclr_only" else 40.0,
                                             "epochs": 6 if v != "simclr_only" else 0}
               for i, v in enumerate(VARIANTS)}
    (reports / "ablation.json").write_text(json.dumps({
        "budget": params["ablations"]["budget"], "results": results, "command": "make ablation"}))
    transfer = {name: {"validation_tar_at_threshold": 0.93 + i / 100, "lfw_accuracy": 0.99 + i / 1000,
                       "minutes": 12.0 * i}
                for i, name in enumerate(["sface_alone", "sface_arcface", "sface_simclr_arcface"])}
    (reports / "transfer_ablation.json").write_text(json.dumps({
        "results": transfer, "chosen_on_validation": "sface_simclr_arcface", "command": "make transfer-ablation"}))
    (reports / "transfer_ablation.md").write_text(
        "| variant | validation TAR | LFW acc (served / protocol) |\n|---|---|---|\n"
        "| (h) SFace alone | 93.0% | 99.1% / 99.4% |\n"
        "| (j) SFace + SimCLR + ArcFace (chosen) | 95.0% | 99.3% / 99.5% |\n")
    (reports / "ablation.md").write_text(
        "Budget per fine-tuned variant: 6 epochs or 10 min, same data and seed.\n\n"
        "| variant | accuracy | ROC AUC | TAR @ FAR 1% | EER | epochs | minutes (2 CPU cores) |\n"
        "|---|---|---|---|---|---|---|\n"
        "| (a) SimCLR + ArcFace | 0.900 | 0.9912 | 0.810 | 0.042 | 6 | 10.0 |\n")
    for name in ("pretrain_loss.png", "finetune_curves.png", "roc.png", "ablation_roc.png", "demo/contact_sheet.png"):
        _png(reports / name)
    (reports / "demo/predictions.json").write_text(json.dumps({"summary": {
        "accepted": 5, "same": 5, "rejected": 9, "different": 10, "meets_requirement": True}}))
    (reports / "demo_eval.json").write_text(json.dumps({
        "model": "face-verify:x", "threshold": 0.3571, "sets": 50, "share_meeting_requirement": 0.96,
        "share_perfect": 0.5, "mean_accepted": 4.6, "mean_rejected": 9.7, "per_set": [{"seed": 0}] * 50}))
    (reports / "bench.json").write_text(json.dumps({
        "command": "make bench", "verify_1_plus_15": {"p50_ms": 812.5, "p95_ms": 901.0},
        "embed": {"per_face_ms": 21.3}, "samples": [1, 2, 3],
        "load": {"phases": [{"concurrency": 4, "latency_s": {"p50": 0.43}},
                             {"concurrency": 8, "latency_s": {"p50": 0.64}}]}}))
    if runs:
        import torch

        history = [(s, 6.0 - s / 100, 0.003) for s in range(1, 101)]
        (root / params["pretrain"]["out"]).mkdir(parents=True, exist_ok=True)
        torch.save({"history": history, "step": 100}, root / params["pretrain"]["out"] / "checkpoint.pt")
        (root / params["finetune"]["out"]).mkdir(parents=True, exist_ok=True)
        (root / params["finetune"]["out"] / "history.json").write_text(
            json.dumps([[s, 20.0 - s / 10, min(1.0, s / 100)] for s in range(1, 101)]))
        for variant in VARIANTS:
            _pairs_csv(root / params["ablations"]["out"] / variant / "finetune_pairs.csv", rng)
    return root
