"""report.doc_figures: the figures in README.md and docs/ are the committed reports' (no hand copies)."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from report import doc_figures
from report.figure_table import Reports
from report.front_page import headline
from report.performance_page import performance

REPO = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"<!-- figures:(\w+):start -->.*?<!-- figures:\1:end -->", re.S)


def test_the_committed_pages_show_the_figures_of_the_committed_reports():
    stale = doc_figures.stale_pages(REPO, REPO / "reports", write=False)
    assert stale == [], f"{stale}: the figures differ from reports/; run `make report` and commit the pages"


def test_every_figure_is_read_from_the_committed_reports():
    """A report rerun in another shape must not turn a figure into "not in the report" unnoticed."""
    reports = Reports(REPO / "reports")
    for page, blocks in doc_figures.BLOCKS.items():
        for name, make in blocks.items():
            text = make(reports)
            assert "_not in the report" not in text and "not run yet" not in text, (page, name, text)


def test_no_page_quotes_a_generated_figure_outside_its_block():
    """A number copied by hand out of a generated block would drift when the reports change
    (the pages that hold generated blocks; other pages cite their reports)."""
    pages = [REPO / page for page in doc_figures.BLOCKS]
    generated = "".join(m.group(0) for p in pages for m in BLOCK.finditer(p.read_text()))
    decimals = {f for f in re.findall(r"\d+\.\d{2,}", generated) if len(f.lstrip("0.").replace(".", "")) >= 3}
    figures = decimals | set(re.findall(r"\d{1,3}(?:,\d{3})+", generated))  # 0.207, 99.20, 826,072
    copies = {}
    for page in pages:
        outside = BLOCK.sub("", page.read_text())
        found = sorted(f for f in figures if re.search(rf"(?<![\d.,]){re.escape(f)}(?![\d]|,\d)", outside))
        if found:
            copies[page.relative_to(REPO).as_posix()] = found
    assert copies == {}, "cite the report or the generated block instead of copying its figures"


def copy_repo_pages(root: Path) -> None:
    for page in doc_figures.BLOCKS:
        (root / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / page, root / page)
    shutil.copytree(REPO / "reports", root / "reports", ignore=shutil.ignore_patterns("*.png", "*.csv"))


def test_a_rerun_report_changes_the_pages_block_and_nothing_else(tmp_path):
    copy_repo_pages(tmp_path)
    bench = tmp_path / "reports/bench.json"
    doc = json.loads(bench.read_text())
    doc["end_to_end"]["latency_s"]["median"] = 0.5123
    doc["generated"] = "2031-02-03T04:05:06+00:00"
    bench.write_text(json.dumps(doc))
    before = (tmp_path / "README.md").read_text()

    assert doc_figures.main(["--root", str(tmp_path), "--check"]) == 1
    assert (tmp_path / "README.md").read_text() == before  # --check writes nothing
    assert doc_figures.main(["--root", str(tmp_path)]) == 0
    after = (tmp_path / "README.md").read_text()
    assert "median **0.512 s**" in after and "`reports/bench.json`, 2031-02-03 | `make bench` |" in after
    assert BLOCK.sub("", after) == BLOCK.sub("", before)
    assert "0.512 s" in (tmp_path / "docs/performance.md").read_text()
    assert doc_figures.main(["--root", str(tmp_path), "--check"]) == 0  # idempotent


def test_a_missing_report_says_not_run_yet_with_the_command_that_writes_it(tmp_path):
    text = headline(Reports(tmp_path))
    assert text.count("_not run yet_") == len(text.splitlines()) - 2
    for command in ("`make evaluate`", "`make bench`", "`make loadtest`", "`make gallery-eval`",
                    "`make demo-eval ARGS=--refresh-examples`", "`FACE_UI_REFRESH=1 make test PYTEST_ARGS=tests/ui`"):
        assert command in text, command


def test_a_report_of_another_shape_says_what_it_lacks_and_the_rest_stands(tmp_path):
    (tmp_path / "bench.json").write_text(json.dumps({"end_to_end": {}, "command": "make bench BENCH_ARGS=--x"}))
    shutil.copy(REPO / "reports/metrics.json", tmp_path / "metrics.json")
    text = headline(Reports(tmp_path))
    bench_rows = [line for line in text.splitlines() if "`reports/bench.json`" in line]
    # where the file first differs from report.results.BenchReport
    assert len(bench_rows) == 2 and all("_not in the report (machine: Field required)" in r for r in bench_rows)
    assert all("`make bench BENCH_ARGS=--x`" in r for r in bench_rows)  # the recorded command wins
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert f"accuracy **{100 * metrics['accuracy']:.2f}%**" in text


def test_a_section_a_bench_run_left_out_names_itself_and_the_rest_stands(tmp_path):
    """`make bench BENCH_ARGS=--no-levers` writes no levers: their rows say so, the others stand."""
    copy_repo_pages(tmp_path)
    bench = tmp_path / "reports/bench.json"
    doc = json.loads(bench.read_text())
    del doc["levers"]
    bench.write_text(json.dumps(doc))
    text = performance(Reports(tmp_path / "reports"))
    rows = {line.split(" | ")[0].lstrip("| "): line for line in text.splitlines() if line.startswith("| ")}
    assert "_not in the report (NotInReport: levers)" in rows["batching (the faces of one request)"]
    assert "_not in the report" not in rows["verify(1 + 15) end to end"]


def test_a_report_written_before_the_latency_summary_reads_as_one_written_after(tmp_path):
    """bench.json called p50 `median`; a rerun writes report.results.LatencySummary (p50, p99, ...)."""
    copy_repo_pages(tmp_path)
    bench = tmp_path / "reports/bench.json"
    doc = json.loads(bench.read_text())
    before = headline(Reports(tmp_path / "reports"))
    for latency in (doc["end_to_end"]["latency_s"], doc["opencv"]["latency_s"]):
        latency["p50"] = latency.pop("median")
        latency["p99"] = latency["max"]
    bench.write_text(json.dumps(doc))
    assert headline(Reports(tmp_path / "reports")) == before


def test_a_page_without_its_block_is_an_error_naming_the_page(tmp_path, capsys):
    copy_repo_pages(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text(BLOCK.sub("", readme.read_text()))
    assert doc_figures.main(["--root", str(tmp_path), "--check"]) == 2
    assert "README.md: expected one `<!-- figures:headline:start -->`" in capsys.readouterr().err


def test_a_block_given_twice_is_an_error():
    start, end = doc_figures.markers("headline")
    with pytest.raises(ValueError, match="expected one"):
        doc_figures.fill(f"{start}\n{end}\n{start}\n{end}\n", {"headline": headline}, Reports(REPO / "reports"))
