"""The false-match rate (FAR) threshold rule, the one definition: the evaluation fits the
served threshold and its FAR table with it, `face-verify calibrate` recommends one with it.

A threshold "for FAR f" on n different-person (impostor) scores accepts at most floor(f * n)
of them (score >= threshold): it lies just above the (floor(f * n) + 1)-th highest score.
Thresholds that people read (the served one, the FAR table, the recommended one) have 4
decimals, rounded up, so the rounding never lets one more impostor in.

Pure Python (no numpy): the client ships it; the evaluation passes numpy arrays.
"""
from __future__ import annotations

import heapq
import math
import struct
from collections.abc import Iterable
from decimal import ROUND_CEILING, Decimal

DECIMALS = 4


def far_threshold(impostor_scores: Iterable[float], far: float) -> float:
    """The lowest threshold at which at most `far` of the impostor scores are >= it."""
    scores = list(impostor_scores)
    if not scores:
        raise ValueError("no impostor scores to fit a threshold on")
    allowed = math.floor(far * len(scores))  # this many impostors may be accepted
    if allowed >= len(scores):
        return float(min(scores))
    return next_above(heapq.nlargest(allowed + 1, scores)[-1])


def next_above(score: float) -> float:
    """The next number above `score` in its own precision. float32 scores (numpy's, from
    float32 embeddings) step to the next float32: compared in float32, as numpy compares a
    float32 array with a Python float, the threshold then still excludes `score`."""
    if getattr(score, "itemsize", 8) != 4:
        return math.nextafter(float(score), math.inf)
    value = float(score)
    if value == 0.0:
        return float(struct.unpack("<f", struct.pack("<I", 1))[0])  # the smallest positive float32
    (bits,) = struct.unpack("<I", struct.pack("<f", value))
    return float(struct.unpack("<f", struct.pack("<I", bits + 1 if value > 0 else bits - 1))[0])


def rounded_up(threshold: float, decimals: int = DECIMALS) -> float:
    """`threshold` at `decimals` decimals, rounded up (never below it), within [-1, 1]."""
    exact = Decimal(repr(float(threshold)))  # the float's shortest decimal form: 0.3475 stays 0.3475
    return max(-1.0, min(1.0, float(exact.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_CEILING)))) + 0.0


def far_table(impostor_scores: Iterable[float], rates: Iterable[float], min_pairs: int = 10) -> list[dict]:
    """{"far", "threshold"} (4 decimals, rounded up) for each rate that at least `min_pairs`
    impostor pairs measure."""
    scores = list(impostor_scores)
    return [{"far": rate, "threshold": rounded_up(far_threshold(scores, rate))}
            for rate in rates if rate * len(scores) >= min_pairs]


def false_match_rate(score: float, far_thresholds: Iterable[dict]) -> float | None:
    """The false-match rate a `score` stands for, read from a FAR table ({"far", "threshold"}
    rows): the smallest tabulated rate whose threshold the score reaches, i.e. strangers' pairs
    score this high at most that often. None below the table's loosest threshold."""
    reached = [row["far"] for row in far_thresholds if score >= row["threshold"]]
    return min(reached) if reached else None


def one_in(rate: float) -> str:
    """A rate as people read it: 0.0001 -> "1 in 10,000"."""
    return f"1 in {round(1 / rate):,}"
