"""Choose a threshold from the user's own labelled photos: PEOPLE_DIR/<person>/<photo>.

Every photo is embedded by the service (face-embed, its largest face); same-person pairs
and different-person pairs are scored by cosine similarity, the same score verify uses.
For each threshold: the false-match rate (FAR: different-person pairs at or above it) and the
true-match rate (TAR: same-person pairs at or above it), each with a 95% Wilson interval for
the number of pairs. The recommended threshold follows the rule the served one was fitted
with (`client.far`): the lowest 4-decimal threshold whose measured FAR is at most the target.

Pure Python (no numpy): the client needs only requests + pydantic.
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

from .far import far_threshold, rounded_up

Z95 = 1.959964  # two-sided 95% normal quantile


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a proportion (good near 0, unlike the normal one)."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class Rate:
    hits: int  # pairs scoring at or above the threshold
    pairs: int

    @property
    def value(self) -> float:
        return self.hits / self.pairs if self.pairs else float("nan")

    @property
    def interval(self) -> tuple[float, float]:
        return wilson(self.hits, self.pairs)

    def as_dict(self) -> dict:
        low, high = self.interval
        return {"rate": self.value, "low": low, "high": high, "hits": self.hits, "pairs": self.pairs}


@dataclass(frozen=True)
class Row:
    threshold: float
    far: Rate  # different-person pairs accepted
    tar: Rate  # same-person pairs accepted


def rates(threshold: float, same: Sequence[float], different: Sequence[float]) -> Row:
    return Row(threshold, Rate(sum(s >= threshold for s in different), len(different)),
               Rate(sum(s >= threshold for s in same), len(same)))


def recommend(different: Sequence[float], far: float) -> float:
    """The threshold for false-match rate `far` on the different-person scores, as served: 4 decimals."""
    return rounded_up(far_threshold(different, far))


def table_thresholds(same: Sequence[float], different: Sequence[float], step: float = 0.05) -> list[float]:
    """A grid over the range where the scores lie."""
    scores = list(same) + list(different)
    low = math.floor(min(scores) / step) * step
    high = math.ceil(max(scores) / step) * step
    count = int(round((high - low) / step))
    return [round(low + i * step, 4) for i in range(count + 1)]


def people_photos(root: Path, suffixes: set[str]) -> dict[str, list[Path]]:
    """person -> photos, for every sub-folder of `root` holding photos."""
    people = {}
    for folder in sorted(p for p in Path(root).iterdir() if p.is_dir()):
        photos = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
        if photos:
            people[folder.name] = photos
    return people


def dot(a: Sequence[float], b: Sequence[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=False))


def score_pairs(embeddings: dict[str, list[list[float]]], max_pairs: int,
                seed: int = 0) -> tuple[list[float], list[float]]:
    """(same-person scores, different-person scores). When there are more than `max_pairs`
    of a kind, a seeded random sample of that many is scored."""
    rng = random.Random(seed)
    same_pairs = [(a, b) for vectors in embeddings.values() for a, b in combinations(vectors, 2)]
    if len(same_pairs) > max_pairs:
        same_pairs = rng.sample(same_pairs, max_pairs)
    owners = [(person, vector) for person, vectors in embeddings.items() for vector in vectors]
    sizes = [len(v) for v in embeddings.values()]
    total_different = (sum(sizes) ** 2 - sum(n * n for n in sizes)) // 2
    if total_different <= max_pairs:
        different_pairs = [(a[1], b[1]) for a, b in combinations(owners, 2) if a[0] != b[0]]
    else:
        different_pairs = []
        while len(different_pairs) < max_pairs:
            a, b = rng.sample(owners, 2)
            if a[0] != b[0]:
                different_pairs.append((a[1], b[1]))
    return [dot(a, b) for a, b in same_pairs], [dot(a, b) for a, b in different_pairs]


def embed_people(client, people: dict[str, list[Path]],
                 report: Callable[[str], None], progress: Callable[[int, int], None] | None = None
                 ) -> dict[str, list[list[float]]]:
    """person -> one embedding per usable photo (its largest face). Photos without a face
    or refused by the server are left out, each named in a report line."""
    from .errors import BadInputError

    total = sum(len(photos) for photos in people.values())
    done = 0
    embeddings: dict[str, list[list[float]]] = {}
    for person, photos in people.items():
        for photo in photos:
            try:
                faces = client.embed(photo).faces
            except BadInputError as exc:
                report(f"skipped: {exc}")
                faces = None
            if faces == []:
                report(f"skipped: {photo}: no face found")
            elif faces:
                embeddings.setdefault(person, []).append(list(faces[0].embedding))
            done += 1
            if progress is not None:
                progress(done, total)
    return embeddings


def format_rate(rate: Rate) -> str:
    low, high = rate.interval
    return f"{rate.value:8.4%} [{low:.4%}, {high:.4%}]  {rate.hits:>7}/{rate.pairs}"


def format_table(rows: list[Row], marks: dict[float, str]) -> str:
    header = (f"{'threshold':>9}  {'false-match rate [95% CI]  matches/pairs':<44}  "
              f"{'true-match rate [95% CI]  matches/pairs':<44}")
    lines = [header, "-" * len(header)]
    for row in rows:
        mark = marks.get(row.threshold, "")
        lines.append(f"{row.threshold:>9.4f}  {format_rate(row.far):<44}  {format_rate(row.tar):<44}  {mark}")
    return "\n".join(lines)
