"""The pairs of faces alike enough to link, in a collection too large to compare every face
with every other: an approximate nearest-neighbour index (Qdrant Edge's HNSW, the engine the
gallery stores faces in) finds each face's `NEIGHBOURS` most alike faces, and the pairs at or
above the threshold among them are kept.

A person's face has a handful of alike faces, strangers' faces fall far below the threshold,
so the pairs that matter are among a face's first few neighbours. Where all of them reach the
threshold (someone photographed more often than that) the face is compared with every face
instead, so a person's many faces keep all their links. The index ranks again with the float
vectors: a kept pair's similarity is its exact dot product, as the exact path's.

Checked against comparing all pairs by `make cluster-eval ARGS=--scale` on 100,000 faces: the
share of the pairs the settings below find, and the time each way (reports/clusters.json,
scale.pair_check; docs/people.md).
"""
from __future__ import annotations

import logging
import tempfile
import time

import numpy as np

# Above this many faces the index finds the pairs; up to it every face is compared with every
# other (exact, and quick at that size), so the calibration and measured people group exactly.
APPROXIMATE_ABOVE = 50_000
NEIGHBOURS = 32  # most alike faces asked per face
SEARCH_EF = 64  # candidates explored per search (recall of the pairs: docs/people.md)
HNSW_M = 16  # links per point of the graph
HNSW_EF_CONSTRUCT = 100  # candidates per insertion while building it
OVERSAMPLING = 1.5  # points taken from the int8 index per point returned, ranked again exactly
PAGE = 4096  # points written at once
QUERIES_AT_ONCE = 256  # searches in one batch

log = logging.getLogger(__name__)


def approximate_pairs(embeddings: np.ndarray, threshold: float, *, neighbours: int = NEIGHBOURS,
                      search_ef: int = SEARCH_EF, block: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) with i < j of the pairs of faces with dot product >= threshold found among each
    face's `neighbours` nearest (all pairs of a face whose nearest all reach it). `embeddings`:
    unit rows. Progress is logged (logger client.people.pairs, INFO)."""
    from qdrant_edge import (
        Distance,
        EdgeConfig,
        EdgeShard,
        EdgeVectorParams,
        HnswIndexConfig,
        Memory,
        Point,
        QuantizationSearchParams,
        Query,
        QueryBatchRequest,
        QueryRequest,
        ScalarQuantizationConfig,
        ScalarType,
        SearchParams,
        UpdateOperation,
    )

    vectors = np.ascontiguousarray(embeddings, dtype=np.float32)
    count = len(vectors)
    if count < 2:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    limit = min(neighbours + 1, count)  # the face itself is among its nearest
    started = time.perf_counter()
    rows, cols = [], []
    with tempfile.TemporaryDirectory(prefix="people-pairs-") as folder:
        shard = EdgeShard.create(folder, EdgeConfig(
            vectors=EdgeVectorParams(size=vectors.shape[1], distance=Distance.Dot),
            hnsw_config=HnswIndexConfig(m=HNSW_M, ef_construct=HNSW_EF_CONSTRUCT, full_scan_threshold=10_000,
                                        memory=Memory.Pinned),
            quantization_config=ScalarQuantizationConfig(ScalarType.Int8, memory=Memory.Pinned),
            wal_enabled=False))
        try:
            for start in range(0, count, PAGE):
                shard.update(UpdateOperation.upsert_points(
                    [Point(start + k, row) for k, row in enumerate(vectors[start:start + PAGE].tolist())]))
            shard.flush()
            shard.optimize()
            log.info("pairs: %d faces indexed in %.0f s", count, time.perf_counter() - started)
            params = SearchParams(hnsw_ef=max(search_ef, limit),
                                  quantization=QuantizationSearchParams(rescore=True, oversampling=OVERSAMPLING))
            full: list[int] = []  # faces whose every neighbour asked for reached the threshold
            reported = time.perf_counter()
            for start in range(0, count, QUERIES_AT_ONCE):
                found = shard.query_batch(QueryBatchRequest([
                    QueryRequest(limit=limit, query=Query.Nearest(row), params=params, score_threshold=threshold)
                    for row in vectors[start:start + QUERIES_AT_ONCE].tolist()]))
                for k, points in enumerate(found):
                    if len(points) >= limit:
                        full.append(start + k)
                    ids = np.fromiter((int(point.id) for point in points), dtype=np.int64, count=len(points))
                    rows.append(np.full(len(ids), start + k, dtype=np.int64))
                    cols.append(ids)
                if time.perf_counter() - reported >= 30:
                    reported = time.perf_counter()
                    log.info("pairs: %d/%d faces searched (%.0f s)", start + QUERIES_AT_ONCE, count,
                             reported - started)
        finally:
            shard.close()
    log.info("pairs: %d faces searched in %.0f s, %d compared with all", count, time.perf_counter() - started,
             len(full))
    every = np.asarray(full, dtype=np.int64)
    for start in range(0, len(every), block):
        faces = every[start:start + block]
        i, j = np.nonzero(vectors[faces] @ vectors.T >= threshold)
        rows.append(faces[i])
        cols.append(j.astype(np.int64))
    low, high = unique_pairs(np.concatenate(rows), np.concatenate(cols), count)
    # the index's threshold is applied to its own scores: each pair is kept on its exact one
    keep = np.empty(len(low), dtype=bool)
    for start in range(0, len(low), 65_536):
        part = slice(start, start + 65_536)
        keep[part] = np.einsum("ij,ij->i", vectors[low[part]], vectors[high[part]]) >= threshold
    return low[keep], high[keep]


def unique_pairs(rows: np.ndarray, cols: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Each pair once, as (i, j) with i < j, sorted; (i, i) dropped."""
    low, high = np.minimum(rows, cols), np.maximum(rows, cols)
    keys = np.unique((low * count + high)[low != high])
    return keys // count, keys % count
