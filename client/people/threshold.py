"""The similarity at which two faces are linked when grouping a collection into people.

Grouping compares every face with every other: with N faces a stranger has about N chances
to be linked to someone, and a false link joins two people's groups for good (chaining
multiplies it). So the per-pair false-match rate is `false_link_rate / N`, read from the
calibration table the server sends with every face-embed answer, the same rule as a 1:N
gallery search (client/gallery/threshold.py, which continues the table's last step below its
strictest rate), never below the verification threshold: the threshold tightens as the
collection grows. docs/people.md says how `DEFAULT_FALSE_LINK_RATE` was chosen.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..gallery.threshold import search_threshold
from ..models import EmbeddingResult, FarThreshold

# The share of faces that may be linked to a stranger; chosen on the calibration people by
# `make cluster-eval` (reports/clusters.json, "chosen").
DEFAULT_FALSE_LINK_RATE = 0.03


def grouping_threshold(threshold: float, far_thresholds: Iterable[Mapping | FarThreshold] | None, faces: int,
                       false_link_rate: float = DEFAULT_FALSE_LINK_RATE) -> float:
    """The cosine similarity at which two faces are linked, for a collection of `faces`
    faces. `threshold` and `far_thresholds`: the server's verification threshold and FAR
    table ([{"far", "threshold"}]), as every face-embed answer carries them."""
    if not 0.0 < false_link_rate <= 1.0:
        raise ValueError("false_link_rate must be in (0, 1]")
    rows = [row if isinstance(row, FarThreshold) else FarThreshold(far=row["far"], threshold=row["threshold"])
            for row in far_thresholds or []]
    answer = EmbeddingResult(model="", faces=[], threshold=threshold, far_thresholds=rows)
    found = search_threshold(answer, max(1, faces), false_link_rate)
    return float(threshold if found is None else found)
