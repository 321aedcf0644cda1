"""The README's headline figures: what the service achieves, each from its report in reports/."""
from __future__ import annotations

from report.figure_table import WRITERS, Figure, Reports, cells, embedding_rates, seconds, table
from report.report import pct
from report.results import (
    BenchReport,
    BrowserReport,
    CapacityPlan,
    CapacityReport,
    DemoEvalReport,
    GalleryReport,
    GalleryScaleReport,
    LatencySummary,
    LoadReport,
    MetricsReport,
    StreamReport,
    present,
)


def verification(m: MetricsReport) -> str:
    return (f"accuracy **{pct(m.accuracy)}**, ROC AUC {m.roc_auc:.4f}, true-match rate "
            f"{pct(m.tar_at_far_0_1pct)} at a 0.1% false-match rate ({m.pairs:,} pairs)")


def heldout(m: MetricsReport) -> str:
    h = m.heldout_celeba
    plain, composited = (f"{t.passed}/{t.trials}" for t in (h.trials_plain, h.trials_composited))
    return (f"{h.people} people: pair accuracy {pct(h.pairs.accuracy)} ({h.pairs.pairs:,} pairs), ROC AUC "
            f"{h.pairs.roc_auc:.4f}; 1 + 15 trials passed {plain}, composited in clutter {composited}")


def served_threshold(m: MetricsReport) -> str:
    return (f"{m.threshold:.4f}: false-match rate {100 * m.calibration.far:g}% on {m.calibration.impostor_pairs:,} "
            f"impostor pairs of {m.calibration.people} held-out people (`{m.model}`)")


def demo_protocol(d: DemoEvalReport) -> str:
    p = d.protocol
    return (f"{d.sets} seeded LFW sets: {pct(d.share_meeting_requirement)} meet >= {p.required_accepted}/"
            f"{p.same} accepted and >= {p.required_rejected}/{p.others} rejected, "
            f"{pct(d.share_perfect)} all {p.same + p.others} right")


def demo_eval_command(d: DemoEvalReport | None) -> str:
    """`make demo-eval` writes runs/; --refresh-examples writes the committed reports/ file."""
    if d is not None and d.command:
        return d.command
    return "make demo-eval" + (f" SETS={d.sets}" if d is not None else "") + " ARGS=--refresh-examples"


def opencv_run(b: BenchReport) -> tuple[LatencySummary, float]:
    """OpenCV's latency in process, and end to end over it (absent when the bench venv was)."""
    cv = present(b.opencv, "opencv")
    return present(cv.latency_s, "opencv.latency_s"), present(cv.end_to_end_over_opencv, "opencv ratio")


def end_to_end(b: BenchReport) -> str:
    e2e, (opencv, ratio) = present(b.end_to_end, "end_to_end"), opencv_run(b)
    return (f"median **{seconds(e2e.latency_s.p50)}**, p95 {seconds(e2e.latency_s.p95)} ({e2e.requests} requests, "
            f"{b.machine.cpus} CPU cores); OpenCV's YuNet + SFace in process: {seconds(opencv.p50)} "
            f"(ratio {ratio:.2f})")


def embedding(b: BenchReport) -> str:
    e = b.embedding
    return embedding_rates(e, f"aligned faces/s at {e.threads} thread (served: {e.engine} {e.precision})")


def load_phase(doc: LoadReport, concurrency: int):
    return next(p for p in present(doc.load, "load").phases if p.concurrency == concurrency)


def load(doc: LoadReport) -> str:
    p = load_phase(doc, 8)
    latency = present(p.latency_s, "latency_s at 8")
    return (f"{p.throughput_rps:.1f} requests/s, p50 {seconds(latency.p50)}, p95 "
            f"{seconds(latency.p95)}, {p.errors} errors, {p.lost} lost ({p.duration_s:g} s)")


def load_command(doc: LoadReport | None) -> str:
    """The file records no command; its phase length tells the one option that was given."""
    if doc is not None and doc.command:
        return doc.command
    duration = doc.load.phases[0].duration_s if doc is not None and doc.load else 60
    return "make loadtest" + (f' LOAD_ARGS="--duration {duration:g}"' if duration != 60 else "")


def failures(runs: dict, raw: str = "raw requests") -> str:
    """The raw requests' failures next to FaceClient's, from a fault or failover run."""
    return (f"{raw} {runs['raw'].failed_total} of {runs['raw'].sent} failed; "
            f"through `FaceClient` {runs['client'].failed_total} of {runs['client'].sent}")


def fault(doc: LoadReport) -> str:
    runs = present(doc.fault, "fault").runs
    return f"killed {len(runs['raw'].kills)} times a run: " + failures(runs)


def gallery(doc: GalleryReport) -> str:
    g = next(r for r in doc.results if r.photos_per_person == 1)
    return (f"{g.people} people, 1 photo each: top-1 {pct(g.top1_accuracy)}, named above the threshold "
            f"{pct(g.identified_accuracy)}; strangers answered unknown {pct(g.unknown_rejection)}; "
            f"search median {g.search_ms_median:.2g} ms")


def web_page(doc: BrowserReport) -> str:
    clicks = doc.click_to_verdicts_s
    return (f"{clicks.first:.2f} s first click, {min(clicks.warm):.2f}-{max(clicks.warm):.2f} s after; "
            f"{doc.photos}, headless Chromium")


def replicas_needed(plan: CapacityPlan) -> str:
    return " / ".join(str(plan.replicas_for_at_70pct[rate]) for rate in ("10", "100", "1000"))


def capacity(doc: CapacityReport) -> str:
    verify, embed = doc.plan.verify, doc.plan.embed_one_face
    return (f"per core: {verify.per_core_rps:.2f} verify(1 + 15)/s, {embed.per_core_rps:.1f} 1-face embeddings/s; "
            f"replicas (1 core each, at 70% CPU) for 10 / 100 / 1,000 requests/s: verify {replicas_needed(verify)}, "
            f"embed {replicas_needed(embed)} ([scaling.md](docs/scaling.md))")


def failover(doc: LoadReport) -> str:
    f = present(doc.failover, "failover")
    return f"{f.replicas} replicas behind nginx, one killed: " + failures(f.runs)


def gallery_scale(doc: GalleryScaleReport) -> str:
    """The largest Edge gallery measured, then identification with every distractor added."""
    top = max((r for r in doc.results if r.backend == "edge"), key=lambda r: r.n)
    scale = (f"{top.n:,} faces in the embedded Qdrant Edge store: insert + index "
             f"{(top.insert_s + top.index_s) / 60:.1f} min, query p95 {top.query_p95_ms:.0f} ms, "
             f"recall@1 {top.recall_at_1:.3f} ({top.recall_at_1_enrolled:.3f} for enrolled people's faces), "
             f"reopen {top.reopen_s:.1f} s")
    every = doc.distractors.results[-1]
    return (f"{scale}; with {every.distractors:,} real distractors: top-1 {pct(every.top1_accuracy)}, "
            f"unknown {pct(every.unknown_rejection)}")


def live(doc: StreamReport) -> str:
    one, three = doc.live.one_face, doc.live.three_faces
    return (f"640x480 frames: {one.frames_per_s:.1f}/s with 1 face, {three.frames_per_s:.1f}/s with 3 "
            f"(delay p95 {three.delay_ms.p95:.0f} ms); LFW clip names right on "
            f"{pct(doc.lfw_clip.with_tracking.right_frames)} of frames; `video identify` "
            f"{doc.video_identify.real_time_factor:.1f}x real time")


def cameras(doc: StreamReport) -> str:
    if doc.cameras is None:
        return "_not in the report_"
    four = doc.cameras.run(4)
    at_four = ("" if four is None or four.event_latency_ms is None else
               f" (4 cameras: {pct(four.identified_share.mean)} of frames identified, event latency p95 "
               f"{four.event_latency_ms.p95:.0f} ms)")
    return f"640x480 streams at 10 fps, 1-3 faces: {doc.cameras.most_cameras_kept_up} cameras kept up{at_four}"


FIGURES = [
    Figure("Verification, LFW pairsDevTest (people never trained on)", "metrics.json", verification),
    Figure("Held-out CelebA (people never trained on)", "metrics.json", heldout),
    Figure("Served threshold", "metrics.json", served_threshold),
    Figure("1 reference + 15 test photos", "demo_eval.json", demo_protocol, demo_eval_command),
    Figure("verify(1 + 15) through TorchServe", "bench.json", end_to_end),
    Figure("Embedding throughput", "bench.json", embedding),
    Figure("8 clients at once", "load.json", load, load_command),
    Figure("Face-verify worker killed under load", "load.json", fault, load_command),
    Figure("Gallery search (1:N), LFW peopleDevTest", "gallery.json", gallery),
    Figure("Web page: click to verdicts on screen", "ui/browser.json", web_page),
    Figure("Live identification (frames through the service + tracking)", "stream.json", live,
           lambda _: WRITERS["stream.json"]),  # the make target, not the recorded run's ports
    Figure("Cameras watched at once (`watch`, 2 cores)", "stream.json", cameras,
           lambda _: WRITERS["stream.json"]),
    Figure("Capacity (replicas behind nginx, 2 cores)", "capacity.json", capacity),
    Figure("Replica killed under load", "load_replicas.json", failover,
           lambda _: 'make serve REPLICAS=2 && make loadtest REPLICAS=2 LOAD_ARGS="--duration 30"'),
    Figure("Gallery at scale", "gallery_scale.json", gallery_scale,
           lambda _: WRITERS["gallery_scale.json"]),
]


def headline(reports: Reports) -> str:
    rows = [cells(reports, figure) for figure in FIGURES]
    return table(["figure", "measured", "report", "command"],
                 [[c["label"], c["value"], c["source"], c["command"]] for c in rows])
