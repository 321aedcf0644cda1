"""Where a stage's outputs go: the one rule. Smoke runs never write over committed files."""
from __future__ import annotations

from pathlib import Path


def reports_dir(smoke: bool, given: str | Path | None = None) -> Path:
    """`given` if set, else reports/ (committed), or runs/smoke/reports/ for smoke runs."""
    path = Path(given or ("runs/smoke/reports" if smoke else "reports"))
    path.mkdir(parents=True, exist_ok=True)
    return path
