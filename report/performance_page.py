"""docs/performance.md's table: `make bench` (reports/bench.json) and `make loadtest`
(reports/load.json) against their targets, with the state of the machine each ran on."""
from __future__ import annotations

from report.figure_table import Figure, Reports, cells, date, met, recorded_command, seconds, table
from report.front_page import load_command


def ms(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def end_to_end(b: dict) -> str:
    e2e = b["end_to_end"]["latency_s"]
    return f"median {seconds(e2e['median'])}, p95 {seconds(e2e['p95'])} ({e2e['n']} requests)"


def end_to_end_target(b: dict) -> str:
    t = b["targets"]
    return f"<= OpenCV in process, <= {t['end_to_end_target_s']:g} s: {met(t['end_to_end_met'])}"


def opencv(b: dict) -> str:
    cv = b["opencv"]
    return (f"median {seconds(cv['latency_s']['median'])}, p95 {seconds(cv['latency_s']['p95'])} "
            f"({cv['threads']} threads, {1000 * cv['sface_per_crop_s']:.1f} ms per crop)")


def ratio(b: dict) -> str:
    return f"{b['opencv']['end_to_end_over_opencv']:.2f}"


def ratio_target(b: dict) -> str:
    t = b["targets"]
    return f"<= {t['opencv_ratio_target']:g}: {met(t['opencv_ratio_met'])}"


def stages(b: dict) -> str:
    return ", ".join(f"{name} {1000 * s['median']:.0f} ms" for name, s in b["in_process"]["stages_s"].items())


def overhead(b: dict) -> str:
    o = b["server_overhead"]
    return f"x{o['ratio']:.2f} ({o['extra_ms']:+.0f} ms)"


def threads(b: dict) -> str:
    by = b["levers"]["serving"]["handle_s_by_threads"]
    return " / ".join(f"{seconds(s['median'])} ({name})" for name, s in by.items())


def engines(b: dict) -> str:
    by = b["levers"]["engines_ms_per_crop"]
    return "; ".join(f"{engine} {' / '.join(ms(v['batch 32']) for v in per_threads.values())}"
                     for engine, per_threads in by.items())


def embedding(b: dict) -> str:
    e = b["embedding"]
    return (f"{e['served']['faces_per_s']:.0f} faces/s at {e['threads']} thread (served), "
            f"{e['2 threads']['faces_per_s']:.0f} at 2 ({e['engine']} {e['precision']}, batch {e['batch']})")


def embedding_target(b: dict) -> str:
    t = b["targets"]
    return f">= {t['embedding_target']:g} faces/s at 2 threads: {met(t['embedding_met'])}"


def flip(b: dict) -> str:
    runs = {name: run for name, run in b["levers"]["serving"].items() if "flip=" in name}
    return "; ".join(f"{name}: {run['faces_per_s']:.0f} faces/s" for name, run in runs.items())


def batching(b: dict) -> str:
    run = b["levers"]["serving"]["batching"]
    return (f"{run['faces']} faces in one forward {seconds(run['one_forward_s'])}, one forward per face "
            f"{seconds(run['forward_per_face_s'])} (x{run['speedup']:.2f})")


def benchmarks(b: dict) -> dict:
    return {name: bench for name, bench in b["accuracy"].items() if isinstance(bench, dict)}


def accuracy(b: dict) -> str:
    parts = []
    for name, bench in benchmarks(b).items():
        shown = {k: v for k, v in bench["by_embedder"].items() if k.startswith(("evaluated", "served ("))}
        parts.append(f"{name} ({bench['pairs']:,} pairs): " + "; ".join(
            f"{k} {v['accuracy']:.4g} (AUC {v['roc_auc']:.4f})" for k, v in shown.items()))
    return f"threshold {b['accuracy']['stored_threshold']:.4f}. " + ". ".join(parts)


def accuracy_target(b: dict) -> str:
    flags = {k: v for k, v in b["targets"].items() if "within" in k}
    return (f"served within {100 * b['accuracy']['tolerance']:g} point of the evaluated model: "
            + ", ".join(met(v) for v in flags.values()))


def levers_accuracy(b: dict) -> str:
    parts = []
    for name, bench in benchmarks(b).items():
        others = {k: v for k, v in bench["by_embedder"].items() if not k.startswith(("evaluated", "served ("))}
        parts.append(f"{name}: " + "; ".join(f"{k} {v['accuracy']:.4g}" for k, v in others.items()))
    return ". ".join(parts)


def levers_target(b: dict) -> str:
    within = all(v["within_tolerance"] for bench in benchmarks(b).values() for v in bench["by_embedder"].values())
    return "all within the tolerance" if within else "some **outside** the tolerance"


def per_phase(phases: list[dict], show) -> str:
    return " / ".join(show(p) for p in phases)


def load(doc: dict) -> str:
    phases = doc["load"]["phases"]
    return (f"{per_phase(phases, lambda p: str(p['concurrency']))} clients, {phases[0]['duration_s']:g} s each: "
            f"{per_phase(phases, lambda p: format(p['throughput_rps'], '.1f'))} requests/s; "
            f"p50 {per_phase(phases, lambda p: seconds(p['latency_s']['p50']))}, "
            f"p95 {per_phase(phases, lambda p: seconds(p['latency_s']['p95']))}; "
            f"errors {per_phase(phases, lambda p: str(p['errors']))}, lost {per_phase(phases, lambda p: str(p['lost']))}")


def load_target(doc: dict) -> str:
    t = doc["load"]["targets"]
    worst = max(p["p95_over_p50"] for p in doc["load"]["phases"])
    return (f"0 errors and 0 lost at 8: {met(t['zero_errors_and_lost_at_8'])}; p95 <= 3 x p50: "
            f"{met(t['p95_within_3x_p50_at_8'])} ({worst:.2f} x at most)")


def fault(doc: dict) -> str:
    return "; ".join(f"{mode}: {run['failed_total']} of {run['sent']} failed"
                     + (f" ({', '.join(f'{n} {kind}' for kind, n in run['errors_by_kind'].items())})"
                        if run.get("errors_by_kind") else "")
                     for mode, run in doc["fault"]["runs"].items())


def source(name: str, reports: Reports) -> str:
    """Where the rows of one report come from: its date, its command, the machine it ran on."""
    doc = reports(name)
    if doc is None:
        return f"- `reports/{name}`: not run yet (`{recorded_command(name)({})}`)."
    writer = next(f for f in FIGURES if f.report == name)
    line = f"- `reports/{name}`: {date(doc) or 'undated'}, `{writer.command_of(doc)}`"
    m = doc.get("machine")
    if isinstance(m, dict):
        state = "idle" if m.get("idle") else "**busy**: other work was running"
        line += f"; {m.get('cpus')} CPU cores, load average {m.get('loadavg_1_5_15', ['?'])[0]} at the start ({state})"
    return line + "."


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
