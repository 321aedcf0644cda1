"""How well a grouping of faces matches who they are: pairwise and BCubed precision / recall / F.

Pairwise: over every pair of faces, precision is the share of pairs put in one group that are
one person, recall the share of one person's pairs put in one group. BCubed: per face,
precision is the share of its group that is its person, recall the share of its person that
is in its group, each averaged over the faces. A face left unassigned counts as a group of
its own. Both from the contingency table of (group, person), so 10^5 faces cost no pairs.
"""
from __future__ import annotations

import numpy as np


def contingency(truth, predicted) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Counts of faces per (group, person) cell, per group and per person."""
    _, person = np.unique(np.asarray(truth), return_inverse=True)
    _, group = np.unique(np.asarray(predicted), return_inverse=True)
    _, cell_counts = np.unique(group.astype(np.int64) * (person.max() + 1) + person, return_counts=True)
    return cell_counts, np.bincount(group), np.bincount(person)


def harmonic(precision: float, recall: float) -> float:
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def pairs(counts: np.ndarray) -> float:
    return float(np.sum(counts.astype(np.float64) * (counts - 1) / 2))


def pairwise(truth, predicted) -> dict:
    """Pairwise precision, recall, F (1.0 where there are no pairs to get wrong)."""
    cells, groups, people = contingency(truth, predicted)
    together, grouped, same = pairs(cells), pairs(groups), pairs(people)
    precision = together / grouped if grouped else 1.0
    recall = together / same if same else 1.0
    return {"precision": precision, "recall": recall, "f": harmonic(precision, recall)}


def bcubed(truth, predicted) -> dict:
    """BCubed precision, recall, F."""
    _, person = np.unique(np.asarray(truth), return_inverse=True)
    _, group = np.unique(np.asarray(predicted), return_inverse=True)
    cell = group.astype(np.int64) * (person.max() + 1) + person
    _, inverse, cell_counts = np.unique(cell, return_inverse=True, return_counts=True)
    shared = cell_counts[inverse].astype(np.float64)  # per face: faces of its group that are its person
    precision = float(np.mean(shared / np.bincount(group)[group]))
    recall = float(np.mean(shared / np.bincount(person)[person]))
    return {"precision": precision, "recall": recall, "f": harmonic(precision, recall)}


def scores(truth, predicted) -> dict:
    """Pairwise and BCubed figures and the number of groups (4 decimals)."""
    found = {"pairwise_" + k: v for k, v in pairwise(truth, predicted).items()}
    found |= {"bcubed_" + k: v for k, v in bcubed(truth, predicted).items()}
    return {k: round(v, 4) for k, v in found.items()} | {"groups": int(len(np.unique(np.asarray(predicted))))}
