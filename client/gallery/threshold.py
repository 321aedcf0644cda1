"""The threshold of a 1:N search. A stranger's face is compared with every enrolled embedding
and is falsely identified if any one scores above the threshold: with N embeddings that
happens about N times as often as for one pair. So the search uses the threshold whose
per-pair false-match rate is `false_identification_rate / N`, read (log-interpolated) from the
table the server sends with each embedding, and never one below the verification threshold.

A large gallery needs rates below the table's strictest (measured) one. There the table's
last step is continued: the threshold keeps rising by as much per decade of rate as between
its two strictest entries. How that holds up against real strangers: docs/gallery.md."""
from __future__ import annotations

import math

from ..models import EmbeddingResult

DEFAULT_FALSE_IDENTIFICATION_RATE = 0.01  # a stranger is named as someone 1 time in 100


def search_threshold(answer: EmbeddingResult, embeddings: int,
                     false_identification_rate: float = DEFAULT_FALSE_IDENTIFICATION_RATE) -> float | None:
    """The threshold for searching `embeddings` enrolled embeddings. Without a table (an older
    server) the verification threshold; below the table's smallest rate, its last step
    continued (a one-entry table: that entry)."""
    table = sorted((row.far, row.threshold) for row in answer.far_thresholds or [])
    if not table or answer.threshold is None:
        return answer.threshold
    target = math.log10(false_identification_rate / max(1, embeddings))
    points = [(math.log10(far), threshold) for far, threshold in table]
    if target >= points[-1][0]:
        found = points[-1][1]
    elif target <= points[0][0]:
        found = points[0][1] if len(points) == 1 else line(points[0], points[1], target)
    else:
        found = line(*next((a, b) for a, b in zip(points, points[1:], strict=False) if a[0] <= target <= b[0]), target)
    return round(min(1.0, max(answer.threshold, found)), 4)


def line(a: tuple[float, float], b: tuple[float, float], x: float) -> float:
    """The straight line through a and b at x (log rate -> threshold)."""
    (x0, y0), (x1, y1) = a, b
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
