"""docs/training.md's threshold table: the false-match rate -> threshold pairs fitted on the
calibration people (reports/metrics.json, stored with the weights)."""
from __future__ import annotations

from report.figure_table import Figure, Reports, cells


def far_thresholds(m: dict) -> str:
    served = m["calibration"]["far"]
    rows = [f"{100 * r['far']:g}% -> {r['threshold']:.4f}" for r in m["calibration"]["far_thresholds"]]
    marked = [f"**{row} (served)**" if r["far"] == served else row
              for row, r in zip(rows, m["calibration"]["far_thresholds"], strict=False)]
    return ", ".join(marked) + f" ({m['calibration']['people']} people, {m['calibration']['impostor_pairs']:,} impostor pairs)"


FIGURE = Figure("false-match rate -> threshold", "metrics.json", far_thresholds)


def thresholds(reports: Reports) -> str:
    c = cells(reports, FIGURE)
    return f"{c['label']}: {c['value']}; {c['source']}, {c['command']}."
