"""dvc.yaml is a valid graph of the Makefile's stages, and nothing here runs a stage.

`dvc repro --dry` checks that every dependency exists even for stages it would not run
(treeverse/dvc#9021), so on a fresh clone (no cache/, runs/) it stops at the first
generated dependency. The full dry run is therefore made on a fresh clone whose declared
outputs are empty placeholders: it prints every stage's command, in order, and runs none.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pipeline_support import REPO as ROOT
from pipeline_support import VARIANTS, local_imports, run_dvc, write_fake_outputs

EXPECTED_EDGES = {("data", "pretrain"), ("pretrain", "finetune"), ("finetune", "evaluate"),
                  ("finetune", "archive"), ("data", "ablation"), ("finetune", "transfer_ablation"),
                  ("evaluate", "report"), ("ablation", "report"), ("transfer_ablation", "report")}
STAGES = {"data", "pretrain", "finetune", "evaluate", "ablation", "transfer_ablation", "archive", "report"}
MAKE_TARGETS = {"transfer_ablation": "transfer-ablation"}  # stage -> Makefile target, where the names differ
PYTHON = ".venv/bin/python"  # the stages run the repository's venv, like the Makefile


def makefile_recipes() -> dict[str, list[str]]:
    recipes, target = {}, None
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith("\t") and target:
            recipes[target].append(line.strip())
        elif m := re.match(r"^([A-Za-z0-9_./%-]+):(?!=)", line):
            target = m.group(1)
            recipes[target] = []
        elif not line.startswith("\t"):
            target = None
    return recipes


def module_of(command: str) -> str | None:
    m = re.search(r"-m ([\w.]+)", command)
    return m.group(1) if m else None


def snapshot(path: Path):
    """A file's (size, mtime); a folder's listing."""
    if path.is_dir():
        return sorted(str(p.relative_to(path)) for p in path.rglob("*"))
    return (path.stat().st_size, path.stat().st_mtime_ns) if path.exists() else None


def test_dvc_dag_in_the_repository_has_every_stage_and_edge():
    dot = run_dvc("dag", "--dot", cwd=ROOT).stdout
    nodes = set(re.findall(r'^"([\w-]+)";$', dot, re.M))
    edges = set(re.findall(r'^"([\w-]+)" -> "([\w-]+)";$', dot, re.M))
    assert nodes == STAGES
    assert EXPECTED_EDGES <= edges, EXPECTED_EDGES - edges


def test_stage_commands_are_the_make_targets_entry_points(pipeline):
    recipes = makefile_recipes()
    for stage in STAGES - {"archive"}:
        commands = pipeline.commands(stage)
        make_modules = [module_of(line) for line in recipes[MAKE_TARGETS.get(stage, stage)] if module_of(line)]
        assert [module_of(c) for c in commands] == make_modules, stage
        for command in commands:
            assert command.startswith(f"{PYTHON} -m "), command
            assert importlib.util.find_spec(module_of(command)) is not None, command
    # make data passes the data folder; the stage passes params.yaml's (same default)
    assert "--data-dir $(DATA_DIR)" in recipes["data"][0]
    assert pipeline.stages["data"]["cmd"].endswith("--data-dir ${data.data_dir}")
    done = subprocess.run(["make", "-s", "-f", "-", "show"], cwd=ROOT, capture_output=True, text=True, check=True,
                          input=(ROOT / "Makefile").read_text() + "\nshow:\n\t@echo $(DATA_DIR)\n",
                          env={k: v for k, v in os.environ.items() if k != "DATA_DIR"})
    assert done.stdout.strip() == pipeline.value("data.data_dir")  # make reads params.yaml's
    # make archive builds each .mar with `bash archive/archive.sh <name> model_store`
    mars = re.search(r"^MARS := (.*)$", (ROOT / "Makefile").read_text(), re.M).group(1).split()
    assert recipes["model_store/%.mar"][-1].endswith("bash archive/archive.sh $* model_store")
    assert pipeline.commands("archive") == [f"bash archive/archive.sh {Path(m).stem} model_store" for m in mars]
    assert sorted(p for p, _, _ in pipeline.outputs("archive")) == sorted(mars)


def test_params_and_interpolations_exist_in_params_yaml(pipeline):
    def strings(node):
        if isinstance(node, dict):
            for key, value in node.items():
                yield from strings(key)
                yield from strings(value)
        elif isinstance(node, list):
            for value in node:
                yield from strings(value)
        elif isinstance(node, str):
            yield node

    used = {m for text in strings(pipeline.spec) for m in re.findall(r"\$\{([^}]+)\}", text)}
    assert "data.data_dir" in used
    for dotted in used:
        pipeline.value(dotted)  # KeyError if params.yaml lacks it
    for name, stage in pipeline.stages.items():
        for dotted in stage.get("params", []):
            assert isinstance(dotted, str), f"{name}: params from another file are not expected"
            pipeline.value(dotted)
            assert ".smoke" not in dotted, f"{name}: smoke overrides must not invalidate real runs"


def test_every_result_changing_param_is_a_stage_param(pipeline):
    """A new key in params.yaml must be declared where it is read, or dvc misses the change.
    Execution-only keys (speed, not results) are left out on purpose (see dvc.yaml)."""
    execution_only = {"workers", "threads", "checkpoint_minutes", "smoke"}

    def declared(stage: str, key: str) -> bool:
        return any(key == p or key.startswith(p + ".") for p in pipeline.stages[stage].get("params", []))

    owners = {"data": "data", "pretrain": "pretrain", "finetune": "finetune", "ablations": "ablation",
              "transfer_ablations": "transfer_ablation"}
    for section, stage in owners.items():
        for key in set(pipeline.params[section]) - execution_only:
            assert declared(stage, f"{section}.{key}"), f"{stage}: params.yaml {section}.{key} is not declared"
    # each variant = the finetune section + the section's base and budget (where it has them) + its overrides
    for section, stage in (("ablations", "ablation"), ("transfer_ablations", "transfer_ablation")):
        ablations = pipeline.params[section]
        overridden = {"out", "export"} | set(ablations.get("base", {})) | set(ablations.get("budget", {})) | {
            key for variant in ablations["variants"].values() for key in variant}
        if ablations.get("base", {}).get("interpolate") == [1.0]:
            overridden.add("interpolate_from")  # where to interpolate from: unused without interpolation
        for key in set(pipeline.params["finetune"]) - execution_only - overridden:
            assert declared(stage, f"finetune.{key}"), f"{stage}: params.yaml finetune.{key} is not declared"


def test_deps_exist_or_come_from_an_upstream_stage(pipeline):
    produced = {path: name for name in pipeline.stages for path, _, _ in pipeline.outputs(name)}
    data_dir = pipeline.value("data.data_dir")
    for name in pipeline.stages:
        for path, raw, _ in pipeline.paths(name, "deps"):
            if path in produced:
                assert produced[path] != name
            elif raw.startswith("${data.data_dir}"):
                assert path.startswith(data_dir)  # the external, read-only data folder
            else:
                assert (ROOT / path).exists(), f"{name}: dependency {path} is missing"


def test_code_deps_cover_every_repository_file_a_stage_imports(pipeline):
    """A change to any code a stage runs makes it stale (package __init__ docstrings aside)."""
    for name in pipeline.stages:
        deps = [ROOT / path for path, _, _ in pipeline.paths(name, "deps") if path]
        for command in pipeline.commands(name):
            if module_of(command) is None:
                continue
            for file in local_imports(module_of(command)):
                if file.name == "__init__.py":
                    continue
                assert any(file == dep or dep in file.parents for dep in deps), \
                    f"{name}: {file.relative_to(ROOT)} (imported by {module_of(command)}) is not a dependency"


def test_git_tracked_and_committed_outputs_are_not_cached(pipeline):
    """DVC refuses to cache a file git tracks: weights/ and reports/ are committed."""
    tracked = set(subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True).stdout.split())
    for name in pipeline.stages:
        for path, _, options in pipeline.outputs(name):
            committed = path in tracked or path.split("/")[0] in ("weights", "reports")
            if committed:
                assert options.get("cache") is False, f"{name}: {path} is committed, needs cache: false"


def test_dvc_config_is_commit_ready():
    config = (ROOT / ".dvc/config").read_text()
    assert re.search(r"^\s*analytics = false$", config, re.M)
    assert "remote" not in config  # dvc repro works locally, no remote needed
    ignored = subprocess.run(["git", "check-ignore", ".dvc/cache/x", ".dvc/tmp/x", ".dvc/config.local"],
                             cwd=ROOT, capture_output=True, text=True).stdout.split()
    assert ignored == [".dvc/cache/x", ".dvc/tmp/x", ".dvc/config.local"]
    assert "__pycache__/" in (ROOT / ".dvcignore").read_text().split()


def test_dry_repro_on_a_fresh_clone_prints_every_command_and_runs_none(fresh_clone, pipeline):
    status = json.loads(run_dvc("status", "--json", cwd=fresh_clone).stdout)
    assert set(status) == set(pipeline.stages)  # nothing has run: every stage is stale

    clone = type(pipeline)(yaml.safe_load((fresh_clone / "params.yaml").read_text()), fresh_clone / "dvc.yaml")
    placeholders = []
    for name in clone.stages:
        for path, _, _ in clone.outputs(name):
            target = fresh_clone / path
            if target.suffix:  # a file
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()
            else:
                target.mkdir(parents=True, exist_ok=True)
            placeholders.append(target)
    data_dir = Path(clone.value("data.data_dir"))
    if not (data_dir / "lfw" / "peopleDevTest.txt").exists():
        pytest.skip(f"the data stage depends on the protocol files under {data_dir} (set DATA_DIR)")

    lock = fresh_clone / "dvc.lock"  # the committed record of the last real runs
    untouched = {p: snapshot(p) for p in placeholders + [lock]}
    out = run_dvc("repro", "--dry", cwd=fresh_clone).stdout
    ran = re.findall(r"^Running stage '([\w-]+)':$", out, re.M)
    assert sorted(ran) == sorted(clone.stages)
    for before, after in EXPECTED_EDGES:
        assert ran.index(before) < ran.index(after), (before, after)
    printed = re.findall(r"^> (.*)$", out, re.M)
    assert printed == [c for name in ran for c in clone.commands(name)]
    # nothing ran: the outputs and the lock file are as they were
    assert {p: snapshot(p) for p in placeholders + [lock]} == untouched


@pytest.mark.slow
def test_metrics_and_plots_show_read_the_reports(fresh_clone, tmp_path):
    """With run outputs in place (fakes), `dvc metrics show` and `dvc plots show` find them."""
    write_fake_outputs(fresh_clone)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for module in ("report.plot_data", "report.report"):
        subprocess.run([sys.executable, "-m", module], cwd=fresh_clone, env=env, check=True, capture_output=True)

    metrics = json.loads(run_dvc("metrics", "show", "--json", cwd=fresh_clone).stdout)
    files = next(iter(metrics.values()))["data"]
    assert files["reports/metrics.json"]["data"]["accuracy"] == 0.973
    assert files["reports/ablation.json"]["data"]["results"]["simclr_arcface"]["accuracy"] == 0.9
    assert files["reports/pretrain.json"]["data"]["pairsDevTest"]["simclr"]["accuracy"] == 0.712

    shown = json.loads(run_dvc("plots", "show", "--json", cwd=fresh_clone).stdout)
    assert not shown.get("errors"), shown.get("errors")
    plots = shown["data"]
    for name in ("pretrain_loss", "finetune_loss", "finetune_accuracy", "roc", "ablation_roc",
                 "reports/pairs_predictions.csv"):
        assert plots[name][0]["type"] == "vega", name
        assert len(plots[name][0]["content"]["data"]["values"]) >= 8, name
    for name in ("reports/pretrain_loss.png", "reports/finetune_curves.png", "reports/roc.png",
                 "reports/ablation_roc.png"):
        assert plots[name][0]["type"] == "image", name
    columns = plots["ablation_roc"][0]["content"]["data"]["values"][0]
    assert set(VARIANTS) <= set(columns)
    html = run_dvc("plots", "show", "-o", str(tmp_path / "plots"), cwd=fresh_clone).stdout
    assert (tmp_path / "plots" / "index.html").stat().st_size > 1000, html
