"""report.results: the committed reports read through their models; one latency summary."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from report.results import SHAPES, BenchReport, LatencySummary, LoadReport, first_problem

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_every_committed_report_reads_through_its_model(name):
    SHAPES[name].model_validate_json((REPO / "reports" / name).read_text())


def test_percentiles_are_numpys_linear_interpolation():
    summary = LatencySummary.of([0.4, 0.1, 0.3, 0.2])
    assert (summary.n, summary.p50, summary.p95, summary.p99) == (4, 0.25, 0.385, 0.397)
    assert (summary.mean, summary.min, summary.max) == (0.25, 0.1, 0.4)
    values = np.random.default_rng(0).exponential(0.2, 1000)
    assert LatencySummary.of(values).p95 == round(float(np.percentile(values, 95)), 6)


def test_milliseconds_are_the_same_durations_rounded_to_the_microsecond():
    seconds = [0.0123456789, 0.0234567891]
    ms = LatencySummary.of(seconds, unit="ms")
    assert ms.max == 23.457 and ms.min == 12.346
    assert LatencySummary.of(seconds).max == 0.023457


def test_no_durations_is_an_error_not_a_summary_of_nothing():
    with pytest.raises(ValueError, match="no durations"):
        LatencySummary.of([])


def test_a_summary_written_as_median_reads_as_p50_and_writes_p50():
    old = LatencySummary.model_validate({"median": 0.2, "p95": 0.3, "mean": 0.21, "min": 0.1, "max": 0.4, "n": 3})
    assert old.p50 == 0.2 and old.p99 is None
    assert json.loads(LatencySummary.of([0.2]).model_dump_json())["p50"] == 0.2


def test_a_report_of_another_shape_names_where_it_first_differs():
    doc = json.loads((REPO / "reports/load.json").read_text())
    doc["load"]["phases"][1]["latency_s"] = {"p95": 1.0}
    with pytest.raises(ValidationError) as error:
        LoadReport.model_validate(doc)
    assert first_problem(error.value) == "load.phases.1.latency_s.p50: Field required"


def test_named_runs_beside_the_fields_are_typed_too():
    bench = BenchReport.model_validate_json((REPO / "reports/bench.json").read_text())
    flips = bench.levers.serving.model_extra
    assert flips and all(run.faces_per_s > 0 for run in flips.values())
    assert all(b.by_embedder for b in bench.accuracy.model_extra.values())
