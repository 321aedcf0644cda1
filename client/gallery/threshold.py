"""The threshold of a 1:N search. A stranger's face is compared with every enrolled embedding
and is falsely identified if any one scores above the threshold: with N embeddings that
happens about N times as often as for one pair. So the search uses the threshold whose
per-pair false-match rate is `false_identification_rate / N`, read (log-interpolated) from the
table the server sends with each embedding, and never one below the verification threshold."""
from __future__ import annotations

import math

from ..models import EmbeddingResult

DEFAULT_FALSE_IDENTIFICATION_RATE = 0.01  # a stranger is named as someone 1 time in 100


def search_threshold(answer: EmbeddingResult, embeddings: int,
                     false_identification_rate: float = DEFAULT_FALSE_IDENTIFICATION_RATE) -> float | None:
    """The threshold for searching `embeddings` enrolled embeddings. Without a table (an older
    server) the verification threshold; below the table's smallest rate, its strictest entry."""
    table = sorted((row.far, row.threshold) for row in answer.far_thresholds or [])
    if not table or answer.threshold is None:
        return answer.threshold
    target = math.log10(false_identification_rate / max(1, embeddings))
    points = [(math.log10(far), threshold) for far, threshold in table]
    if target <= points[0][0]:
        found = points[0][1]
    elif target >= points[-1][0]:
        found = points[-1][1]
    else:
        (x0, y0), (x1, y1) = next((a, b) for a, b in zip(points, points[1:]) if a[0] <= target <= b[0])
        found = y0 + (y1 - y0) * (target - x0) / (x1 - x0)
    return round(max(answer.threshold, found), 4)
