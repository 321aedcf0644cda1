"""Grouping faces into people: Chinese whispers on the graph of face pairs at or above the
threshold, then small groups joined to the group whose centroid is most like theirs, with the
one-person-per-photo rule and the user's pins; average linkage beside it.

Chinese whispers (the default, `chinese_whispers`): every face starts as its own group and, in
turn (seeded order, a few rounds until nothing changes), takes the group its neighbours (the
faces it scores >= `threshold` with) carry the most similarity for. A person's less alike
photos join through their likely neighbours, and one look-alike pair does not move a face
whose other neighbours vote elsewhere.

Centroid joins (`join_small_groups`): then a group of at most `small` faces joins the group
whose mean embedding is most like its own, when that cosine reaches the same threshold: a
person's odd face links to none of their faces but to their average. `group_faces` (the
client's grouping) is the two in turn; `make cluster-eval` chose it, and its setting, on the
calibration people over Chinese whispers alone, average linkage, connected components, DBSCAN
and HDBSCAN (docs/people.md).

Constraints: a face never takes a group that holds another face of its photo or a face it was
set apart from (it takes the best group it may join, or stays); faces pinned to one group
share it from the start and never move, so pinned groups stay whole and apart. Two groups
never join by centroid where that would break one of these.

Average linkage (`average_linkage`, measured beside it): two groups join while the average
similarity over all their pairs of faces is >= `threshold`; constraints as distances in the
linkage (cannot-link: a distance no average overcomes; must-link: 0). It clusters each
connected component of the >= threshold graph on its own (an average >= threshold needs one
such pair), densely; a component over `max_component` faces is split along a stricter graph.

numpy and scipy are imported here only (the `people` extra), never by `import client`.
"""
from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

import numpy as np

# Larger than any sum of real distances (at most 2 per pair) over the pairs of two groups of
# up to 10^5 faces each, so an average that includes one such pair never reaches the threshold.
APART = 1e12
MAX_COMPONENT = 20_000  # faces clustered densely at once: 20,000^2 / 2 distances, 1.6 GB in float64
STRICTER = 0.02  # threshold step for splitting an over-large component
BLOCK = 1024  # rows of the similarity matrix computed at once (1024 x 100k floats: 400 MB)


def similar_pairs(embeddings: np.ndarray, threshold: float, block: int = BLOCK,
                  approximate_above: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) with i < j of every pair of faces with cosine similarity >= threshold. Above
    `approximate_above` faces (default pairs.APPROXIMATE_ABOVE) the pairs a nearest-neighbour
    index finds (pairs.approximate_pairs): comparing every face with every other grows as N^2."""
    from . import pairs

    vectors = np.asarray(embeddings, dtype=np.float32)
    if len(vectors) > (pairs.APPROXIMATE_ABOVE if approximate_above is None else approximate_above):
        return pairs.approximate_pairs(vectors, threshold, block=block)
    rows, cols = [], []
    for start in range(0, len(vectors), block):
        scores = vectors[start:start + block] @ vectors.T
        i, j = np.nonzero(scores >= threshold)
        i = i + start
        keep = i < j
        rows.append(i[keep])
        cols.append(j[keep])
    if not rows:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    return np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64)


def components(count: int, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The connected component of each of `count` nodes joined by edges (rows[k], cols[k])."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(len(rows), dtype=np.int8), (rows, cols)), shape=(count, count))
    return np.asarray(connected_components(graph, directed=False)[1], dtype=np.int64)


def codes(keys: Sequence[Hashable | None] | None, count: int) -> np.ndarray:
    """Integer codes of `keys` (-1 for None; all -1 without keys)."""
    if keys is None:
        return np.full(count, -1, dtype=np.int64)
    found: dict[Hashable, int] = {}
    return np.array([-1 if key is None else found.setdefault(key, len(found)) for key in keys], dtype=np.int64)


def average_linkage(embeddings: np.ndarray, threshold: float, *, photos: Sequence[Hashable | None] | None = None,
                    pins: Sequence[Hashable | None] | None = None, apart: Iterable[tuple[int, int]] = (),
                    max_component: int = MAX_COMPONENT) -> np.ndarray:
    """A group label (0, 1, ...) for each face. `embeddings`: unit rows. `photos`: each face's
    photo (two faces of one photo are never one person; None: no photo, e.g. collages).
    `pins`: the group the user put each face in (None: not pinned). `apart`: pairs of face
    indices the user set apart."""
    vectors = np.asarray(embeddings, dtype=np.float32)
    count = len(vectors)
    if count == 0:
        return np.empty(0, dtype=np.int64)
    photo_codes, pin_codes = codes(photos, count), codes(pins, count)
    apart_pairs = np.array(sorted({(min(a, b), max(a, b)) for a, b in apart if a != b}), dtype=np.int64).reshape(-1, 2)
    labels = np.full(count, -1, dtype=np.int64)
    next_label = 0
    for members in component_members(vectors, threshold, pin_codes, max_component):
        if len(members) == 1:
            labels[members] = next_label
            next_label += 1
            continue
        local = cluster_component(vectors[members], threshold, photo_codes[members], pin_codes[members],
                                  local_pairs(members, apart_pairs))
        labels[members] = local + next_label
        next_label += int(local.max()) + 1
    return labels


def component_members(vectors: np.ndarray, threshold: float, pin_codes: np.ndarray,
                      max_component: int) -> list[np.ndarray]:
    """Index arrays of the faces linked at `threshold` (or pinned together), each at most
    `max_component` faces (larger ones split along stricter graphs)."""
    rows, cols = similar_pairs(vectors, threshold)
    pinned = np.flatnonzero(pin_codes >= 0)
    if len(pinned):  # a pinned group is one component: chain its faces
        order = pinned[np.argsort(pin_codes[pinned], kind="stable")]
        same = pin_codes[order[1:]] == pin_codes[order[:-1]]
        rows, cols = np.concatenate([rows, order[:-1][same]]), np.concatenate([cols, order[1:][same]])
    labels = components(len(vectors), rows, cols)
    found: list[np.ndarray] = []
    for members in np.split(np.argsort(labels, kind="stable"), np.cumsum(np.bincount(labels))[:-1]):
        if len(members) > max_component and threshold + STRICTER < 1.0:
            found += [members[part] for part in component_members(
                vectors[members], threshold + STRICTER, pin_codes[members], max_component)]
        else:
            found.append(members)
    return found


def local_pairs(members: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """`pairs` (global face indices) with both faces in `members`, as positions in `members`."""
    if not len(pairs):
        return pairs
    position = {int(face): k for k, face in enumerate(members)}
    kept = [(position[a], position[b]) for a, b in pairs.tolist() if a in position and b in position]
    return np.array(kept, dtype=np.int64).reshape(-1, 2)


def cluster_component(vectors: np.ndarray, threshold: float, photo_codes: np.ndarray, pin_codes: np.ndarray,
                      apart: np.ndarray) -> np.ndarray:
    """Average linkage of one component's faces with the constraints as distances; labels 0.."""
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    distance = 1.0 - (vectors @ vectors.T).astype(np.float64)
    np.clip(distance, 0.0, 2.0, out=distance)
    photo = photo_codes >= 0
    distance[np.equal.outer(photo_codes, photo_codes) & np.logical_and.outer(photo, photo)] = APART
    if len(apart):
        distance[apart[:, 0], apart[:, 1]] = distance[apart[:, 1], apart[:, 0]] = APART
    pinned = pin_codes >= 0
    both = np.logical_and.outer(pinned, pinned)
    same_pin = np.equal.outer(pin_codes, pin_codes)
    distance[both & same_pin] = 0.0
    distance[both & ~same_pin] = APART
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method="average")
    return np.asarray(fcluster(tree, t=1.0 - threshold, criterion="distance"), dtype=np.int64) - 1


def chinese_whispers(embeddings: np.ndarray, threshold: float, *, photos: Sequence[Hashable | None] | None = None,
                     pins: Sequence[Hashable | None] | None = None, apart: Iterable[tuple[int, int]] = (),
                     rounds: int = 20, seed: int = 0) -> np.ndarray:
    """A group label (0, 1, ...) for each face; arguments as for `average_linkage`. `rounds`:
    passes over the faces at most (it stops when a pass changes nothing); `seed`: their order."""
    from scipy.sparse import coo_matrix

    vectors = np.asarray(embeddings, dtype=np.float32)
    count = len(vectors)
    if count == 0:
        return np.empty(0, dtype=np.int64)
    rows, cols = similar_pairs(vectors, threshold)
    weights = np.sum(vectors[rows] * vectors[cols], axis=1)
    both_ways = (np.concatenate([rows, cols]), np.concatenate([cols, rows]))
    graph = coo_matrix((np.concatenate([weights, weights]), both_ways), shape=(count, count)).tocsr()
    photo_codes, pin_codes = codes(photos, count), codes(pins, count)
    labels = np.arange(count)
    fixed = pin_codes >= 0
    first_of_pin: dict[int, int] = {}
    for face in np.flatnonzero(fixed):
        labels[face] = first_of_pin.setdefault(int(pin_codes[face]), int(face))
    in_photo: dict[tuple[int, int], int] = {}  # (label, photo) -> faces of that photo holding the label
    for face in np.flatnonzero(photo_codes >= 0):
        key = (int(labels[face]), int(photo_codes[face]))
        in_photo[key] = in_photo.get(key, 0) + 1
    apart_of: dict[int, list[int]] = {}
    for a, b in apart:
        apart_of.setdefault(a, []).append(b)
        apart_of.setdefault(b, []).append(a)
    rng = np.random.default_rng(seed)
    for _ in range(rounds):
        changed = 0
        for face in rng.permutation(count).tolist():
            start, end = graph.indptr[face], graph.indptr[face + 1]
            if fixed[face] or start == end:
                continue
            votes: dict[int, float] = {}
            for neighbour, weight in zip(graph.indices[start:end].tolist(), graph.data[start:end].tolist(),
                                         strict=True):
                votes[labels[neighbour]] = votes.get(labels[neighbour], 0.0) + weight
            current, photo = int(labels[face]), int(photo_codes[face])
            for label in sorted(votes, key=lambda label: (-votes[label], label)):
                if label == current:
                    break
                if (photo >= 0 and in_photo.get((label, photo), 0)) or \
                        any(labels[other] == label for other in apart_of.get(face, ())):
                    continue
                if photo >= 0:
                    in_photo[(current, photo)] -= 1
                    in_photo[(label, photo)] = in_photo.get((label, photo), 0) + 1
                labels[face] = label
                changed += 1
                break
        if not changed:
            break
    return np.unique(labels, return_inverse=True)[1].astype(np.int64)


# Groups of at most this many faces join the group their centroid is most like (chosen on the
# calibration people by `make cluster-eval`, docs/people.md).
DEFAULT_SMALL_GROUP = 2
CENTROID_SCORES = 64_000_000  # small groups' centroids scored against the others at once (256 MB)


def group_faces(embeddings: np.ndarray, threshold: float, *, small: int = DEFAULT_SMALL_GROUP,
                photos: Sequence[Hashable | None] | None = None, pins: Sequence[Hashable | None] | None = None,
                apart: Iterable[tuple[int, int]] = ()) -> np.ndarray:
    """The client's grouping: `chinese_whispers`, then `join_small_groups` at the same
    threshold. A group label (0, 1, ...) for each face; arguments as for `chinese_whispers`."""
    apart = list(apart)
    labels = chinese_whispers(embeddings, threshold, photos=photos, pins=pins, apart=apart)
    labels = join_small_groups(embeddings, labels, threshold, small=small, photos=photos, pins=pins, apart=apart)
    return np.unique(labels, return_inverse=True)[1].astype(np.int64)


def join_small_groups(embeddings: np.ndarray, labels: np.ndarray, threshold: float, *,
                      small: int = DEFAULT_SMALL_GROUP, photos: Sequence[Hashable | None] | None = None,
                      pins: Sequence[Hashable | None] | None = None, apart: Iterable[tuple[int, int]] = (),
                      changed: Iterable[int] | None = None) -> np.ndarray:
    """`labels` after each group of at most `small` faces joined the group whose centroid (the
    mean of its faces) is most like its own, when that cosine reaches `threshold`: the most
    alike pair first, centroids recomputed after each join, until no pair is left. Averaging
    takes out much of a face's own noise (pose, light), so a person's odd face or pair that
    no single face links to still lands near the person's centroid. A joined pair keeps the
    label of its pinned group, else of its larger group, else the lower label. Two groups
    never join where a photo, a set-apart pair or two different pins would then share one.
    `changed`: the labels whose faces changed since the groups were last joined (pairs of
    unchanged groups were checked then); None: all. Arguments as for `chinese_whispers`."""
    vectors = np.asarray(embeddings, dtype=np.float32)
    count = len(vectors)
    given = np.asarray(labels, dtype=np.int64)
    if count == 0 or small < 1:
        return given.copy()
    names, inverse = np.unique(given, return_inverse=True)
    group_of = inverse.astype(np.int64).reshape(-1)
    from scipy.sparse import csr_matrix

    by_group = np.argsort(group_of, kind="stable")
    sizes = np.bincount(group_of, minlength=len(names))
    one_hot = csr_matrix((np.ones(count, dtype=np.float32), (group_of, np.arange(count))), shape=(len(names), count))
    sums = np.asarray(one_hot @ vectors, dtype=np.float64)
    members: list[list[int]] = [part.tolist() for part in np.split(by_group, np.cumsum(sizes)[:-1])]
    photo_codes, pin_codes = codes(photos, count), codes(pins, count)
    photos_in = [{int(photo_codes[face]) for face in faces} - {-1} for faces in members]
    pins_in = [{int(pin_codes[face]) for face in faces} - {-1} for faces in members]
    apart_of: dict[int, list[int]] = {}
    for a, b in apart:
        apart_of.setdefault(a, []).append(b)
        apart_of.setdefault(b, []).append(a)

    def allowed(one: int, other: int) -> bool:
        if photos_in[one] & photos_in[other] or (pins_in[one] and pins_in[other] and pins_in[one] != pins_in[other]):
            return False
        fewer, more = (one, other) if sizes[one] <= sizes[other] else (other, one)
        return not any(group_of[partner] == more for face in members[fewer] for partner in apart_of.get(face, ()))

    def proposals_of(rows: np.ndarray, columns: np.ndarray, centroids: np.ndarray) -> list[tuple[float, int, int]]:
        """Each row group's most alike allowed column group at or above the threshold."""
        found: list[tuple[float, int, int]] = []
        if not len(rows) or not len(columns):
            return found
        step = max(1, min(BLOCK, CENTROID_SCORES // len(columns)))
        for start in range(0, len(rows), step):
            block = rows[start:start + step]
            scores = centroids[block] @ centroids[columns].T
            at = np.minimum(np.searchsorted(columns, block), len(columns) - 1)
            own = columns[at] == block  # a group is not its own best match
            scores[np.flatnonzero(own), at[own]] = -np.inf
            for row, group in enumerate(block.tolist()):
                above = np.flatnonzero(scores[row] >= threshold)
                for k in above[np.argsort(-scores[row, above], kind="stable")].tolist():
                    if allowed(group, int(columns[k])):
                        found.append((float(scores[row, k]), group, int(columns[k])))
                        break
        return found

    fresh = np.ones(len(names), dtype=bool) if changed is None else np.isin(names, np.fromiter(changed, np.int64))
    while True:
        alive = sizes > 0
        norms = np.linalg.norm(sums, axis=1)
        centroids = (sums / np.where(norms > 0, norms, 1.0)[:, None]).astype(np.float32)
        candidates = np.flatnonzero(alive & (sizes <= small))
        # a fresh small group against every group; an unchanged one against the fresh ones only
        proposals = proposals_of(candidates[fresh[candidates]], np.flatnonzero(alive), centroids) + \
            proposals_of(candidates[~fresh[candidates]], np.flatnonzero(alive & fresh), centroids)
        if not proposals:
            return names[group_of]
        touched = np.zeros(len(names), dtype=bool)
        for _, group, other in sorted(proposals, key=lambda found: (-found[0], found[1], found[2])):
            if touched[group] or touched[other]:
                touched[group] = True  # its next best is looked for in the next pass
                continue
            keep = min(group, other, key=lambda g: (not pins_in[g], -int(sizes[g]), g))
            gone = group + other - keep
            for face in members[gone]:
                group_of[face] = keep
            members[keep] += members[gone]
            members[gone] = []
            sums[keep] += sums[gone]
            sums[gone] = 0.0
            sizes[keep] += sizes[gone]
            sizes[gone] = 0
            photos_in[keep] |= photos_in[gone]
            pins_in[keep] |= pins_in[gone]
            touched[keep] = touched[gone] = True
        fresh = touched
