"""`make gallery-bench` end to end at a tiny size, on stand-in embeddings (seeded unit vectors
in place of the cache's faces, which need `make data` and the weights)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from bench.gallery_scale import main

KEYS = {"n", "backend", "insert_s", "index_s", "query_p50_ms", "query_p95_ms", "recall_at_1", "recall_at_1_enrolled",
        "rss_mb", "disk_mb", "reopen_s"}


def fake_cache_embeddings(work, n=2400, dim=32):
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((n // 4, dim))
    vectors = np.repeat(centres, 4, axis=0) + 0.3 * rng.standard_normal((n, dim))  # 4 photos per person
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    identity = [f"person_{i // 4}" for i in range(n)]
    split = ["devtest" if i < 800 else "devtrain" for i in range(n)]
    identity[:4] = ["loner_a", "loner_b", "loner_c", "loner_d"]  # one-photo people: never enrolled
    work.mkdir()
    np.savez(work / "embeddings.npz", vectors=vectors, identity=identity, split=split, files=identity,
             meta=json.dumps({"version": "test", "threshold": 0.35,
                              "far_thresholds": [{"far": 0.01, "threshold": 0.3}, {"far": 0.001, "threshold": 0.35}]}),
             engine=json.dumps({"engine": "stand-in"}))


@pytest.mark.slow
def test_the_bench_writes_every_key_and_the_distractor_table(tmp_path, monkeypatch):
    monkeypatch.setenv("TQDM_DISABLE", "1")
    work, out = tmp_path / "work", tmp_path / "scale.json"
    fake_cache_embeddings(work)
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "manifest.csv").write_text("file\n")  # present: embeddings.npz is used as is
    assert main(["--sizes", "1500", "3000", "--local-sizes", "--distractor-steps", "0", "500",
                 "--cache-dir", str(tmp_path / "cache"), "--work", str(work), "--out", str(out),
                 "--plot", str(tmp_path / "plot.png")]) == 0
    report = json.loads(out.read_text())
    rows = {(r["backend"], r["n"]): r for r in report["results"]}
    assert set(rows) == {("edge", 1500), ("edge", 3000)}  # local mode: a grouped query takes ~50 ms
    for row in rows.values():
        assert KEYS <= set(row) and row["recall_at_1"] > 0.9 and 0 < row["query_p50_ms"] <= row["query_p95_ms"]
        assert set(row["ef_sweep"]) == {"768", "1024", "2048"}  # half, two thirds and four thirds of 1,536
        assert all(ef["recall_at_1"] > 0.9 for ef in row["ef_sweep"].values())
    assert rows[("edge", 3000)]["vectors"] == {"real": 1400, "synthetic": 1600}  # 1,000 real held out as queries
    steps = report["distractors"]["results"]
    assert [s["distractors"] for s in steps] == [0, 500, 1600]
    assert steps[0]["top1_accuracy"] > 0.9 and report["distractors"]["strangers"] == 4
    assert (tmp_path / "plot.png").stat().st_size > 10_000
