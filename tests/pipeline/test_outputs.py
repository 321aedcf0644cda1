"""The output-path rule (training/outputs.py): every stage decides where its outputs go by it,
so a smoke run of any stage leaves the committed reports/ untouched."""
from __future__ import annotations

import ast
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pipeline_support import REPO, Pipeline, real_params, write_fake_outputs

from training.outputs import COMMITTED_REPORTS, SMOKE_REPORTS, experiment_dir, reports_dir

NO_REPORTS = {"data.face_cache",  # writes only the cache (params.yaml data.cache_dir)
              "report.doc_figures"}  # writes the generated blocks of README.md and docs/, not reports/


def stage_modules() -> set[str]:
    pipe = Pipeline(real_params())
    modules = set()
    for stage in pipe.stages:
        for command in pipe.commands(stage):
            parts = command.split()
            if "-m" in parts:
                modules.add(parts[parts.index("-m") + 1])
    return modules


def test_the_rule(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert reports_dir(smoke=False) == COMMITTED_REPORTS == Path("reports")
    assert reports_dir(smoke=True) == SMOKE_REPORTS and not SMOKE_REPORTS.is_relative_to(COMMITTED_REPORTS)
    assert reports_dir(smoke=True, given="elsewhere") == Path("elsewhere")
    assert experiment_dir("epochs-40").parts[:2] == ("runs", "experiments")
    for name in ("pretrain", "finetune", "ablations", "transfer_ablations"):  # smoke runs: runs/smoke/...
        smoke = real_params()[name]["smoke"]
        assert Path(smoke["out"]).parts[:2] == ("runs", "smoke"), name


def test_every_stage_takes_its_paths_from_the_rule():
    """Each stage module parses the shared options and asks reports_dir; none names reports/ itself."""
    modules = stage_modules()
    assert {"pretrain.train", "finetune.train", "evaluation.evaluate", "report.report", "report.plot_data"} <= modules
    for module in modules - NO_REPORTS:
        source = (REPO / (module.replace(".", "/") + ".py")).read_text()
        tree = ast.parse(source)
        called = {node.func.id for node in ast.walk(tree)
                  if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
        assert {"stage_arguments", "reports_dir"} <= called, module
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef)) and node.body
                      and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
        literals = [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
                    and isinstance(node.value, str) and id(node) not in docstrings]
        assert not [s for s in literals if s in ("reports", "runs") or s.startswith(("reports/", "runs/"))], module


@pytest.mark.slow
def test_make_report_smoke_leaves_the_committed_reports_alone(tmp_path):
    """`make report ARGS=--smoke` reads and writes runs/smoke/reports, never reports/."""
    write_fake_outputs(tmp_path)
    committed = {p: hashlib.sha256(p.read_bytes()).hexdigest()
                 for p in (tmp_path / "reports").rglob("*") if p.is_file()}
    smoke = tmp_path / SMOKE_REPORTS
    write_fake_outputs(tmp_path / "runs" / "smoke", runs=False)  # smoke reports: runs/smoke/reports
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for module in ("report.plot_data", "report.report"):
        subprocess.run([sys.executable, "-m", module, "--smoke"], cwd=tmp_path, env=env, check=True,
                       capture_output=True)
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "reports").rglob("*") if p.is_file()}
    assert after == committed
    assert (smoke / "REPORT.md").is_file()
