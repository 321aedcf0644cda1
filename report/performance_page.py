"""docs/performance.md's table: `make bench` (reports/bench.json) and `make loadtest`
(reports/load.json) against their targets, with the state of the machine each ran on."""
from __future__ import annotations

from collections.abc import Callable

from report.figure_table import (
    Figure,
    Reports,
    cells,
    date,
    embedding_rates,
    met,
    recorded_command,
    seconds,
    table,
)
from report.front_page import load_command, opencv_run
from report.results import AccuracyBenchmark, BenchReport, LatencySummary, LoadPhase, LoadReport, present


def ms(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def end_to_end(b: BenchReport) -> str:
    e2e = present(b.end_to_end, "end_to_end").latency_s
    return f"median {seconds(e2e.p50)}, p95 {seconds(e2e.p95)} ({e2e.n} requests)"


def end_to_end_target(b: BenchReport) -> str:
    t = b.targets
    return (f"<= OpenCV in process, <= {present(t.end_to_end_target_s, 'targets.end_to_end_target_s'):g} s: "
            f"{met(t.end_to_end_met)}")


def opencv(b: BenchReport) -> str:
    (latency, _), cv = opencv_run(b), present(b.opencv, "opencv")
    per_crop = present(cv.sface_per_crop_s, "opencv.sface_per_crop_s")
    return (f"median {seconds(latency.p50)}, p95 {seconds(latency.p95)} "
            f"({cv.threads} threads, {1000 * per_crop:.1f} ms per crop)")


def ratio(b: BenchReport) -> str:
    return f"{opencv_run(b)[1]:.2f}"


def ratio_target(b: BenchReport) -> str:
    t = b.targets
    return f"<= {present(t.opencv_ratio_target, 'targets.opencv_ratio_target'):g}: {met(t.opencv_ratio_met)}"


def stages(b: BenchReport) -> str:
    return ", ".join(f"{name} {1000 * s.p50:.0f} ms" for name, s in b.in_process.stages_s.items())


def overhead(b: BenchReport) -> str:
    o = present(b.server_overhead, "server_overhead")
    return f"x{o.ratio:.2f} ({o.extra_ms:+.0f} ms)"


def threads(b: BenchReport) -> str:
    by = present(b.levers, "levers").serving.handle_s_by_threads
    return " / ".join(f"{seconds(s.p50)} ({name})" for name, s in by.items())


def engines(b: BenchReport) -> str:
    by = present(b.levers, "levers").engines_ms_per_crop
    return "; ".join(f"{engine} {' / '.join(ms(v['batch 32']) for v in per_threads.values())}"
                     for engine, per_threads in by.items())


def embedding(b: BenchReport) -> str:
    e = b.embedding
    return embedding_rates(e, f"faces/s at {e.threads} thread (served)",
                           f" ({e.engine} {e.precision}, batch {e.batch})")


def embedding_target(b: BenchReport) -> str:
    return f">= {b.targets.embedding_target:g} faces/s at 2 threads: {met(b.targets.embedding_met)}"


def flip(b: BenchReport) -> str:
    runs = {name: run for name, run in present(b.levers, "levers").serving.model_extra.items() if "flip=" in name}
    return "; ".join(f"{name}: {run.faces_per_s:.0f} faces/s" for name, run in runs.items())


def batching(b: BenchReport) -> str:
    run = present(b.levers, "levers").serving.batching
    return (f"{run.faces} faces in one forward {seconds(run.one_forward_s)}, one forward per face "
            f"{seconds(run.forward_per_face_s)} (x{run.speedup:.2f})")


def benchmarks(b: BenchReport) -> dict[str, AccuracyBenchmark]:
    return present(b.accuracy, "accuracy").model_extra


def by_embedder(bench: AccuracyBenchmark, served: bool) -> dict:
    """The evaluated model and the served path (`served`), else every other engine and lever."""
    rows = present(bench.by_embedder, "by_embedder")
    return {k: v for k, v in rows.items() if k.startswith(("evaluated", "served (")) == served}


def accuracy(b: BenchReport) -> str:
    parts = [f"{name} ({present(bench.pairs, 'pairs'):,} pairs): " + "; ".join(
             f"{k} {v.accuracy:.4g} (AUC {v.roc_auc:.4f})" for k, v in by_embedder(bench, served=True).items())
             for name, bench in benchmarks(b).items()]
    return f"threshold {present(b.accuracy, 'accuracy').stored_threshold:.4f}. " + ". ".join(parts)


def accuracy_target(b: BenchReport) -> str:
    flags = {k: v for k, v in b.targets.model_extra.items() if "within" in k}
    return (f"served within {100 * present(b.accuracy, 'accuracy').tolerance:g} point of the evaluated model: "
            + ", ".join(met(v) for v in flags.values()))


def levers_accuracy(b: BenchReport) -> str:
    return ". ".join(f"{name}: " + "; ".join(f"{k} {v.accuracy:.4g}"
                                             for k, v in by_embedder(bench, served=False).items())
                     for name, bench in benchmarks(b).items())


def levers_target(b: BenchReport) -> str:
    within = all(v.within_tolerance for bench in benchmarks(b).values()
                 for v in present(bench.by_embedder, "by_embedder").values())
    return "all within the tolerance" if within else "some **outside** the tolerance"


def per_phase(phases: list[LoadPhase], show: Callable[[LoadPhase], str]) -> str:
    return " / ".join(show(p) for p in phases)


def latency(phase: LoadPhase) -> LatencySummary:
    return present(phase.latency_s, f"latency_s at {phase.concurrency}")


def load(doc: LoadReport) -> str:
    phases = present(doc.load, "load").phases
    return (f"{per_phase(phases, lambda p: str(p.concurrency))} clients, {phases[0].duration_s:g} s each: "
            f"{per_phase(phases, lambda p: format(p.throughput_rps, '.1f'))} requests/s; "
            f"p50 {per_phase(phases, lambda p: seconds(latency(p).p50))}, "
            f"p95 {per_phase(phases, lambda p: seconds(latency(p).p95))}; "
            f"errors {per_phase(phases, lambda p: str(p.errors))}, lost {per_phase(phases, lambda p: str(p.lost))}")


def load_target(doc: LoadReport) -> str:
    load = present(doc.load, "load")
    worst = max(present(p.p95_over_p50, "p95_over_p50") for p in load.phases)
    return (f"0 errors and 0 lost at 8: {met(load.targets.zero_errors_and_lost_at_8)}; p95 <= 3 x p50: "
            f"{met(load.targets.p95_within_3x_p50_at_8)} ({worst:.2f} x at most)")


def fault(doc: LoadReport) -> str:
    return "; ".join(f"{mode}: {run.failed_total} of {run.sent} failed"
                     + (f" ({', '.join(f'{n} {kind}' for kind, n in run.errors_by_kind.items())})"
                        if run.errors_by_kind else "")
                     for mode, run in present(doc.fault, "fault").runs.items())


def source(name: str, reports: Reports) -> str:
    """Where the rows of one report come from: its date, its command, the machine it ran on."""
    doc = reports(name)
    if doc is None:
        return f"- `reports/{name}`: not run yet (`{recorded_command(name, None)}`)."
    writer = next(f for f in FIGURES if f.report == name)
    line = f"- `reports/{name}`: {date(doc) or 'undated'}, `{writer.command_of(reports)}`"
    try:
        m = reports.result(name).machine
    except ValueError:  # another shape: the date and command stand
        return line + "."
    state = "idle" if m.idle else "**busy**: other work was running"
    return line + f"; {m.cpus} CPU cores, load average {m.loadavg_1_5_15[0]} at the start ({state})."


FIGURES = [
    Figure("verify(1 + 15) end to end", "bench.json", end_to_end, target=end_to_end_target),
    Figure("OpenCV's YuNet + SFace int8, in process, same 16 photos", "bench.json", opencv),
    Figure("end to end / OpenCV in process", "bench.json", ratio, target=ratio_target),
    Figure("in process per request (medians)", "bench.json", stages),
    Figure("server overhead (end to end / in process)", "bench.json", overhead),
    Figure("one request in process, by inference threads", "bench.json", threads),
    Figure("per crop, batch 32, 1 / 2 threads (ms)", "bench.json", engines),
    Figure("embedding, batched", "bench.json", embedding, target=embedding_target),
    Figure("flip fusion (32 crops)", "bench.json", flip),
    Figure("batching (the faces of one request)", "bench.json", batching),
    Figure("accuracy at the stored threshold, evaluated model (torch) and served path", "bench.json", accuracy,
           target=accuracy_target),
    Figure("accuracy of every other engine and lever", "bench.json", levers_accuracy, target=levers_target),
    Figure("load", "load.json", load, load_command, target=load_target),
    Figure("worker killed under load (raw requests, `FaceClient`, ...)", "load.json", fault, load_command),
]


def performance(reports: Reports) -> str:
    rows = [cells(reports, figure) for figure in FIGURES]
    sources = [source(name, reports) for name in dict.fromkeys(f.report for f in FIGURES)]
    return "\n".join([*sources, "", table(["figure", "measured", "target", "report"],
                                          [[c["label"], c["value"], c["target"], f"`{figure.report}`"]
                                           for c, figure in zip(rows, FIGURES, strict=False)])])
