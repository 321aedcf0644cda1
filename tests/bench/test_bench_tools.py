"""`make bench` / `make loadtest` keep working: their bookkeeping, a tiny in-process bench run
and (integration) a 2-second load run against the test server. No timing is asserted: these
commands measure, they do not pass or fail on speed."""
from __future__ import annotations

import json

import pytest

from bench.loadtest import Checker, Sample, summarize
from bench.photos import skimage_set
from bench.target import REPO, Target, write_report
from report.results import LatencySummary, LoadReport

EXPECTED = {"results": [{"name": "test_1", "match": True, "score": 0.8, "faces": 1},
                        {"name": "test_2", "match": False, "score": None, "faces": 0}]}


def test_checker_accepts_only_the_same_answer():
    checker = Checker(EXPECTED)
    assert checker.kind(200, json.loads(json.dumps(EXPECTED))) == "ok"
    changed = json.loads(json.dumps(EXPECTED))
    changed["results"][0]["match"] = False
    assert checker.kind(200, changed) == "wrong_answer"
    assert checker.kind(200, {"results": EXPECTED["results"][:1]}) == "wrong_answer"
    assert checker.kind(507, None) == "http_507"


def test_summary_counts_errors_and_lost_requests_apart():
    samples = [Sample(0.0, 1.0, 200, "ok"), Sample(0.0, 2.0, 200, "ok"), Sample(1.0, 2.0, 200, "ok"),
               Sample(1.0, 1.5, 507, "http_507", detail="Worker died."), Sample(2.0, 3.0, None, "ReadTimeout")]
    summary = summarize(samples, started=0.0)
    assert (summary["sent"], summary["answered"], summary["ok"]) == (5, 4, 3)
    assert summary["errors_by_kind"] == {"http_507": 1} and summary["lost_by_kind"] == {"ReadTimeout": 1}
    assert summary["failure_examples"]["http_507"] == "Worker died."
    assert summary["throughput_rps"] == 1.0  # 3 correct answers in 3 s
    assert summary["latency_s"].p50 == 1.0 and summary["latency_s"].n == 3  # correct answers only
    assert summary["p95_within_3x_p50"] is True


def test_a_summary_without_a_correct_answer_has_no_latency():
    summary = summarize([Sample(0.0, 1.0, None, "ReadTimeout")], started=0.0)
    assert summary["latency_s"] is None and "p95_over_p50" not in summary


def test_every_report_is_written_alike_with_its_models_inside(tmp_path):
    out = tmp_path / "new" / "load.json"
    write_report(out, {"latency_s": LatencySummary.of([0.1, 0.3])})
    text = out.read_text()
    assert text.endswith("}\n") and text.startswith('{\n  "latency_s": {\n    "n": 2,')
    assert json.loads(text)["latency_s"]["p50"] == 0.2


def test_a_report_the_pages_cannot_read_is_written_then_refused(tmp_path):
    out = tmp_path / "load.json"
    report = json.loads((REPO / "reports/load.json").read_text())
    write_report(out, report, LoadReport)  # the committed report: accepted
    del report["machine"]
    with pytest.raises(SystemExit, match="machine: Field required"):
        write_report(out, report, LoadReport)
    assert "machine" not in json.loads(out.read_text())  # the measurement is kept all the same


def test_load_goes_to_loopback_only(tmp_path):
    with pytest.raises(SystemExit, match="only 127.0.0.1"):
        Target.from_args("http://192.0.2.1:8080", None, None)
    target = Target.from_args("http://127.0.0.1:1/", "http://localhost:2", str(tmp_path / "keys.json"))
    assert target.inference == "http://127.0.0.1:1"


def test_skimage_photo_set_is_a_1_plus_15_request():
    from model.image_io import decode_image

    photos = skimage_set()
    assert len(photos.tests) == 15 and len(photos.form_fields()) == 16
    assert all(decode_image(data).ndim == 3 for data in photos.all)


@pytest.mark.slow
def test_bench_in_process_smoke(tmp_path, committed_model_dir):
    from bench.serving import main

    out = tmp_path / "bench.json"
    assert main(["--no-server", "--no-accuracy", "--no-levers", "--no-opencv", "--repeats", "1", "--out", str(out),
                 "--weights", str(committed_model_dir / "face_embedder.pt")]) == 0
    report = json.loads(out.read_text())
    assert set(report["in_process"]["stages_s"]) == {"decode", "detect", "align", "embed"}
    assert report["in_process"]["checks"]["forward_calls"] == 1  # one batched forward per request
    assert report["in_process"]["checks"]["decodes"] == report["in_process"]["checks"]["photos"]
    assert report["embedding"]["served"]["faces_per_s"] > 0
    assert "end_to_end" not in report and "embedding_met" in report["targets"]


@pytest.mark.integration
def test_loadtest_smoke_against_the_test_server(torchserve_server, tmp_path):
    from bench.loadtest import main

    out = tmp_path / "load.json"
    assert main(["--url", torchserve_server.inference, "--management", torchserve_server.management,
                 "--key-file", str(torchserve_server.workdir / "key_file.json"), "--concurrency", "1",
                 "--duration", "2", "--no-fault", "--out", str(out)]) == 0
    (phase,) = json.loads(out.read_text())["load"]["phases"]
    assert phase["sent"] >= 1 and phase["ok"] + phase["errors"] + phase["lost"] == phase["sent"]
    assert phase["errors"] == 0 and phase["lost"] == 0


def test_opencv_yardstick_runs_the_same_photos():
    from bench.serving import BENCH_PYTHON, opencv_reference

    if not BENCH_PYTHON.is_file():
        pytest.skip(f"{BENCH_PYTHON} is missing: `make bench-env` installs OpenCV 4 for the yardstick")
    result = opencv_reference(skimage_set(), repeats=1)
    assert result["opencv"].startswith("4.") and result["latency_s"].n == 1
    assert len(result["scores"]) == 15 and result["faces_matched"] >= 5  # the astronaut and the camera man
    scores = [s for s in result["scores"] if s is not None]
    assert max(scores) > 0.6 > min(scores)  # her own photos match, other people do not


@pytest.mark.slow
def test_accuracy_covers_both_benchmarks_on_a_real_cache(smoke_cache):
    from bench.serving import BENCHMARKS, accuracy
    from model.embedder import FaceEmbedder
    from model.sface_convert import convert

    result = accuracy({"sface": FaceEmbedder(convert(), flip=False)}, smoke_cache, 0.4)
    assert set(BENCHMARKS) <= set(result)
    lfw = result["pairsDevTest"]["by_embedder"]["sface"]
    assert 0.5 < lfw["accuracy"] <= 1 and lfw["within_tolerance"]
