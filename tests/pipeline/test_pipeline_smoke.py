"""The whole pipeline on the smoke subset: every dvc.yaml stage command, in dependency order,
with `--smoke`, run from a temp directory so every relative output (cache/smoke, runs/smoke,
reports/, model_store/) lands there and the repository's runs, reports and weights are left
alone. Checks that each stage finds the dependencies dvc.yaml declares and writes the
outputs it declares (resolved with the smoke values of params.yaml).

Needs the data folder (skips without it); about 2-3 minutes on an idle 2-core machine.
"""
from __future__ import annotations

import hashlib
import json
import os
import resource
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pipeline_support import REPO, VARIANTS, Pipeline, smoke_params

ORDER = ["data", "pretrain", "finetune", "evaluate", "ablation", "transfer_ablation", "archive", "report"]
# Written only when finetune exports (finetune.smoke.export is null: smoke runs never do).
EXPORT_ONLY = {"reports/finetune.json", "reports/finetune_curves.png"}
# Written only for the full cache: the smoke subset has too few held-out CelebA people for trials.
FULL_CACHE_ONLY = {"heldout_trials.json", "heldout_composites.npz"}


def skipped(path: str | None) -> bool:
    return path is None or path in EXPORT_ONLY or Path(path).name in FULL_CACHE_ONLY


def sha256(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def cpu_seconds() -> float:
    """CPU time of the finished child processes (wall time says little on a busy machine)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


SMOKE_SKIPS = {"report.doc_figures"}  # the committed pages' figures: real runs only (`make report` skips it too)


def smoke_argv(stage: str, command: str, pipe: Pipeline, work: Path) -> list[str] | None:
    argv = shlex.split(command)
    if argv[:2] == [".venv/bin/python", "-m"] and argv[2] in SMOKE_SKIPS:
        return None
    smoke_weights = str(Path(pipe.value("finetune.out")) / "backbone.pt")
    if argv[0] == ".venv/bin/python":  # this venv's interpreter, the same module, --smoke
        extra = ["--weights", smoke_weights] if stage == "evaluate" else []  # the served weights stay out
        if stage != "data":  # the data stage writes only the cache (params.yaml data.cache_dir)
            # smoke reports default to runs/smoke/reports (training/outputs.py); here (a temp dir)
            # they go where dvc.yaml declares them
            extra += ["--reports", "reports"]
        return [sys.executable, *argv[1:], "--smoke", *extra]
    if argv[:2] == ["bash", "archive/archive.sh"]:  # it cds to the repository: absolute paths
        name, out = argv[2], argv[3]
        return ["bash", str(REPO / "archive/archive.sh"), name, str(work / out), str(work / smoke_weights)]
    raise AssertionError(f"{stage}: no smoke form known for {command!r}")


@pytest.mark.slow
def test_every_stage_command_runs_on_the_smoke_subset(data_dir, tmp_path):
    pipe = Pipeline(smoke_params(data_dir))
    assert sorted(ORDER) == sorted(pipe.stages)
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO), "DATA_DIR": str(data_dir), "MPLBACKEND": "Agg",
           "VENV": str(Path(sys.executable).parent.parent)}
    served = REPO / "weights/face_embedder.pt"
    committed_before = {p: sha256(p) for p in (REPO / "reports").rglob("*") if p.is_file()}
    served_before = sha256(served)
    produced: dict[str, str] = {}
    seconds = {}
    for stage in ORDER:
        for path, raw, _ in pipe.paths(stage, "deps"):
            if skipped(path):  # ${finetune.export} (null in smoke runs), export- or full-cache-only files
                continue
            if path in produced:
                assert ORDER.index(produced[path]) < ORDER.index(stage)
                assert (work / path).exists(), f"{stage}: {path} (from {produced[path]}) is missing"
            else:
                assert (REPO / path).exists() or Path(path).is_absolute() and Path(path).exists(), \
                    f"{stage}: dependency {raw} -> {path} is missing"
        started, cpu = time.monotonic(), cpu_seconds()
        for command in pipe.commands(stage):
            argv = smoke_argv(stage, command, pipe, work)
            if argv is None:
                continue
            done = subprocess.run(argv, cwd=work, env=env, capture_output=True, text=True, timeout=3600)
            assert done.returncode == 0, f"{stage}: {shlex.join(argv)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        seconds[stage] = round(time.monotonic() - started, 1)
        print(f"{stage}: {seconds[stage]} s wall, {cpu_seconds() - cpu:.1f} s CPU", flush=True)
        for path, raw, _ in pipe.outputs(stage):
            if skipped(path):
                continue
            assert (work / path).exists(), f"{stage} did not write its declared output {raw} -> {path}"
            produced[path] = stage
    print(f"smoke pipeline: {sum(seconds.values()):.0f} s")

    # smoke runs never export: no weights anywhere, the served model untouched
    assert pipe.value("finetune.export") is None and pipe.value("pretrain.export") is None
    assert not (work / "weights").exists() and not any(work.rglob("face_embedder.pt"))
    assert not (work / "reports/finetune.json").exists()
    if sha256(served) != served_before:  # a real `make finetune` may have exported meanwhile
        import torch

        meta = torch.load(served, map_location="cpu", weights_only=True).get("meta", {})
        assert "smoke" not in str(meta.get("source", "")), f"a smoke run exported {served}: {meta}"
    metrics = json.loads((work / "reports/metrics.json").read_text())
    assert 0 <= metrics["accuracy"] <= 1 and metrics["pairs"] == 40
    ablation = json.loads((work / "reports/ablation.json").read_text())
    assert list(ablation["results"]) == VARIANTS[:3] + VARIANTS[-1:] + VARIANTS[3:-1]
    transfer = json.loads((work / "reports/transfer_ablation.json").read_text())
    assert list(transfer["results"]) == ["sface_alone", "sface_arcface", "sface_simclr_arcface"]
    report = (work / "reports/REPORT.md").read_text()
    assert {p: sha256(p) for p in (REPO / "reports").rglob("*") if p.is_file()} == committed_before
    assert "**Served model" in report and "| (a) SimCLR + ArcFace |" in report and "| (h) SFace alone" in report
    assert sorted(p.name for p in (work / "reports/plots").iterdir()) == [
        "ablation_roc.csv", "finetune_loss.csv", "pretrain_loss.csv", "roc.csv"]
    for name in ("face-verify", "face-embed"):
        assert (work / f"model_store/{name}.mar").stat().st_size > 1_000_000
