"""docs/training.md's threshold table: the false-match rate -> threshold pairs fitted on the
calibration people (reports/metrics.json, stored with the weights)."""
from __future__ import annotations

from report.figure_table import Figure, Reports, cells
from report.results import MetricsReport


def far_thresholds(m: MetricsReport) -> str:
    c = m.calibration
    rows = [f"{100 * r.far:g}% -> {r.threshold:.4f}" for r in c.far_thresholds]
    marked = [f"**{row} (served)**" if r.far == c.far else row for row, r in zip(rows, c.far_thresholds, strict=True)]
    return ", ".join(marked) + f" ({c.people} people, {c.impostor_pairs:,} impostor pairs)"


FIGURE = Figure("false-match rate -> threshold", "metrics.json", far_thresholds)


def thresholds(reports: Reports) -> str:
    c = cells(reports, FIGURE)
    return f"{c['label']}: {c['value']}; {c['source']}, {c['command']}."
