"""The README's headline figures: what the service achieves, each from its report in reports/."""
from __future__ import annotations

from report.figure_table import WRITERS, Figure, Reports, cells, seconds, table
from report.report import pct


def verification(m: dict) -> str:
    return (f"accuracy **{pct(m['accuracy'])}**, ROC AUC {m['roc_auc']:.4f}, true-match rate "
            f"{pct(m['tar_at_far_0.1pct'])} at a 0.1% false-match rate ({m['pairs']:,} pairs)")


def heldout(m: dict) -> str:
    h = m["heldout_celeba"]
    plain, composited = h["trials_plain"], h["trials_composited"]
    return (f"{h['people']} people: pair accuracy {pct(h['pairs']['accuracy'])} ({h['pairs']['pairs']:,} pairs), ROC AUC "
            f"{h['pairs']['roc_auc']:.4f}; 1 + 15 trials passed {plain['passed']}/{plain['trials']}, "
            f"composited in clutter {composited['passed']}/{composited['trials']}")


def served_threshold(m: dict) -> str:
    c = m["calibration"]
    return (f"{m['threshold']:.4f}: false-match rate {100 * c['far']:g}% on {c['impostor_pairs']:,} impostor "
            f"pairs of {c['people']} held-out people (`{m['model']}`)")


def demo_protocol(d: dict) -> str:
    p = d["protocol"]
    return (f"{d['sets']} seeded LFW sets: {pct(d['share_meeting_requirement'])} meet >= {p['required_accepted']}/"
            f"{p['same']} accepted and >= {p['required_rejected']}/{p['others']} rejected, "
            f"{pct(d['share_perfect'])} all {p['same'] + p['others']} right")


def demo_eval_command(d: dict) -> str:
    """`make demo-eval` writes runs/; --refresh-examples writes the committed reports/ file."""
    sets = f" SETS={d['sets']}" if "sets" in d else ""
    return d.get("command") or f"make demo-eval{sets} ARGS=--refresh-examples"


def end_to_end(b: dict) -> str:
    e2e, cv = b["end_to_end"]["latency_s"], b["opencv"]
    return (f"median **{seconds(e2e['median'])}**, p95 {seconds(e2e['p95'])} ({b['end_to_end']['requests']} requests, "
            f"{b['machine']['cpus']} CPU cores); OpenCV's YuNet + SFace in process: {seconds(cv['latency_s']['median'])} "
            f"(ratio {cv['end_to_end_over_opencv']:.2f})")


def embedding(b: dict) -> str:
    e = b["embedding"]
    return (f"{e['served']['faces_per_s']:.0f} aligned faces/s at {e['threads']} thread (served: {e['engine']} "
            f"{e['precision']}), {e['2 threads']['faces_per_s']:.0f} at 2")


def load_phase(doc: dict, concurrency: int) -> dict:
    return next(p for p in doc["load"]["phases"] if p["concurrency"] == concurrency)


def load(doc: dict) -> str:
    p = load_phase(doc, 8)
    return (f"{p['throughput_rps']:.1f} requests/s, p50 {seconds(p['latency_s']['p50'])}, p95 "
            f"{seconds(p['latency_s']['p95'])}, {p['errors']} errors, {p['lost']} lost ({p['duration_s']:g} s)")


def load_command(doc: dict) -> str:
    """The file records no command; its phase length tells the one option that was given."""
    if doc.get("command"):
        return doc["command"]
    duration = doc["load"]["phases"][0]["duration_s"] if "load" in doc else 60
    return "make loadtest" + (f' LOAD_ARGS="--duration {duration:g}"' if duration != 60 else "")


def fault(doc: dict) -> str:
    raw, client = doc["fault"]["runs"]["raw"], doc["fault"]["runs"]["client"]
    return (f"killed {len(raw['kills'])} times a run: raw requests {raw['failed_total']} of {raw['sent']} failed; "
            f"through `FaceClient` {client['failed_total']} of {client['sent']}")


def gallery(doc: dict) -> str:
    g = next(r for r in doc["results"] if r["photos_per_person"] == 1)
    return (f"{g['people']} people, 1 photo each: top-1 {pct(g['top1_accuracy'])}, named above the threshold "
            f"{pct(g['identified_accuracy'])}; strangers answered unknown {pct(g['unknown_rejection'])}; "
            f"search median {g['search_ms_median']:.2g} ms")


def web_page(doc: dict) -> str:
    clicks = doc["click_to_verdicts_s"]
    warm = clicks["warm"]
    return (f"{clicks['first']:.2f} s first click, {min(warm):.2f}-{max(warm):.2f} s after; "
            f"{doc['photos']}, headless Chromium")


def capacity(doc: dict) -> str:
    verify, embed = doc["plan"]["verify"], doc["plan"]["embed_one_face"]
    def need(plan):
        return " / ".join(str(plan["replicas_for_at_70pct"][rate]) for rate in ("10", "100", "1000"))
    return (f"per core: {verify['per_core_rps']:.2f} verify(1 + 15)/s, {embed['per_core_rps']:.1f} 1-face embeddings/s; "
            f"replicas (1 core each, at 70% CPU) for 10 / 100 / 1,000 requests/s: verify {need(verify)}, "
            f"embed {need(embed)} ([scaling.md](docs/scaling.md))")


def failover(doc: dict) -> str:
    f = doc["failover"]
    raw, client = f["runs"]["raw"], f["runs"]["client"]
    return (f"{f['replicas']} replicas behind nginx, one killed: raw requests {raw['failed_total']} of {raw['sent']} "
            f"failed; through `FaceClient` {client['failed_total']} of {client['sent']}")


def gallery_scale(doc: dict) -> str:
    top = max((r for r in doc["results"] if r["backend"] == "edge"), key=lambda r: r["n"])
    every = doc["distractors"]["results"][-1]
    return (f"{top['n']:,} faces in the embedded Qdrant Edge store: insert + index "
            f"{(top['insert_s'] + top['index_s']) / 60:.1f} min, query p95 {top['query_p95_ms']:.0f} ms, "
            f"recall@1 {top['recall_at_1']:.3f} ({top['recall_at_1_enrolled']:.3f} for enrolled people's faces), "
            f"reopen {top['reopen_s']:.1f} s; with {every['distractors']:,} "
            f"real distractors: top-1 {pct(every['top1_accuracy'])}, unknown {pct(every['unknown_rejection'])}")


def live(doc: dict) -> str:
    one, three = doc["live"]["1_face"], doc["live"]["3_faces"]
    video, clip = doc["video_identify"], doc["lfw_clip"]["with_tracking"]
    return (f"640x480 frames: {one['frames_per_s']:.1f}/s with 1 face, {three['frames_per_s']:.1f}/s with 3 "
            f"(delay p95 {three['delay_ms']['p95']:.0f} ms); LFW clip names right on {pct(clip['right_frames'])} "
            f"of frames; `video identify` {video['real_time_factor']:.1f}x real time")


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
           lambda doc: WRITERS["stream.json"]),
    Figure("Capacity (replicas behind nginx, 2 cores)", "capacity.json", capacity),
    Figure("Replica killed under load", "load_replicas.json", failover,
           lambda doc: 'make serve REPLICAS=2 && make loadtest REPLICAS=2 LOAD_ARGS="--duration 30"'),
    Figure("Gallery at scale", "gallery_scale.json", gallery_scale, lambda doc: WRITERS["gallery_scale.json"]),
]


def headline(reports: Reports) -> str:
    rows = [cells(reports, figure) for figure in FIGURES]
    return table(["figure", "measured", "report", "command"],
                 [[c["label"], c["value"], c["source"], c["command"]] for c in rows])
