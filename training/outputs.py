"""Where a stage's outputs go: the one rule. Smoke runs and experiments never write over
committed files.

    stage run             run folder (params.yaml `out`)        reports (committed figures)
    real                  runs/<stage>                          reports/
    --smoke               runs/smoke/<stage>                    runs/smoke/reports/
    experiment (--set)    runs/experiments/<name>               (none: nothing is exported)

`--reports R` overrides the reports folder (the smoke pipeline test writes where dvc.yaml
declares, inside a temporary copy).
"""
from __future__ import annotations

import argparse
from pathlib import Path

COMMITTED_REPORTS = Path("reports")
SMOKE_REPORTS = Path("runs/smoke/reports")
EXPERIMENTS = Path("runs/experiments")


def reports_dir(smoke: bool, given: str | Path | None = None, create: bool = True) -> Path:
    """`given` if set, else reports/ (committed), or runs/smoke/reports/ for smoke runs."""
    path = Path(given or (SMOKE_REPORTS if smoke else COMMITTED_REPORTS))
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def experiment_dir(name: str) -> Path:
    """The run folder of an experiment (a fine-tuning run with --set overrides)."""
    return EXPERIMENTS / name


def stage_arguments(description: str) -> argparse.ArgumentParser:
    """The options every stage takes: --smoke, --cache-dir, --reports."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--smoke", action="store_true", help="tiny run for tests and CI")
    parser.add_argument("--cache-dir", help="face cache (default: params.yaml data.cache_dir)")
    parser.add_argument("--reports",
                        help=f"where the outputs go (default {COMMITTED_REPORTS}/, smoke: {SMOKE_REPORTS}/)")
    return parser


def cache_dir(args: argparse.Namespace) -> Path:
    from training.params import load_params

    return Path(args.cache_dir or load_params("data", args.smoke)["cache_dir"])
