"""Where a stage's outputs go: the one rule. Smoke runs never write over committed files."""
from __future__ import annotations

import argparse
from pathlib import Path


def reports_dir(smoke: bool, given: str | Path | None = None) -> Path:
    """`given` if set, else reports/ (committed), or runs/smoke/reports/ for smoke runs."""
    path = Path(given or ("runs/smoke/reports" if smoke else "reports"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def stage_arguments(description: str) -> argparse.ArgumentParser:
    """The options every evaluation stage takes: --smoke, --cache-dir, --reports."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--smoke", action="store_true", help="tiny run for tests and CI")
    parser.add_argument("--cache-dir", help="face cache (default: params.yaml data.cache_dir)")
    parser.add_argument("--reports", help="where the outputs go (default reports/, smoke: runs/smoke/reports/)")
    return parser


def cache_dir(args: argparse.Namespace) -> Path:
    from training.params import load_params

    return Path(args.cache_dir or load_params("data", args.smoke)["cache_dir"])
