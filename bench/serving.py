"""Serving benchmark (`make bench`): verify(1 + 15) end to end through TorchServe and, in the
same run, the same photos through the handler in process, stage by stage.

    python -m bench.serving                  # the running `make serve` server + in process
    python -m bench.serving --no-server      # in process only
    python -m bench.serving --no-accuracy    # skip the pairsDevTest accuracy check

Writes reports/bench.json:
* end_to_end: latency of sequential verify(1 + 15) requests after warm-up (median, p95, ...);
* in_process: the handler's own handle() for the same request, and its stages (decode,
  detect, align, embed) timed separately, median / p95 over --repeats runs;
* server_overhead: end-to-end median / in-process median (and the difference in ms);
* embedding: aligned faces / s, batched (64 crops), through the served embedder;
* levers: what each optimisation costs or saves, measured in this run (BatchNorm folding,
  flip fusion, torch threads, channels_last, TorchScript, batching, detector input size);
* accuracy: pairsDevTest accuracy of the served embedder vs the reference (eager
  FaceEmbedder) on the face cache (`make data`; skipped with a note when absent);
* targets: median <= 1.0 s end to end, >= 100 faces / s embedding - met or not.

A benchmark, not a test: nothing here asserts a time. Figures from a busy machine are
flagged in "machine" (load average, training processes).
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import warnings
from datetime import datetime, timezone
from pathlib import Path
from statistics import median

import numpy as np
import requests
import torch
import yaml
from urllib3.filepost import encode_multipart_formdata

from bench.photos import PhotoSet, photo_set, skimage_set
from bench.target import REPO, Target, machine_state

E2E_TARGET_S = 1.0
EMBED_TARGET_FPS = 100.0


def stats(values: list[float], digits: int = 4) -> dict:
    array = np.asarray(values, dtype=np.float64)
    return {"median": round(float(np.median(array)), digits), "p95": round(float(np.percentile(array, 95)), digits),
            "mean": round(float(array.mean()), digits), "min": round(float(array.min()), digits),
            "max": round(float(array.max()), digits), "n": int(len(array))}


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
    request = {"reference": bytearray(photos.reference)}
    request.update({f"test_{i}": bytearray(data) for i, data in enumerate(photos.tests, start=1)})
    return request


class Stages:
    """The handler's steps, separately timed: decode, detect, align, embed (+ scoring)."""

    def __init__(self, handler, photos: PhotoSet) -> None:
        self.handler, self.photos = handler, photos
        self.max_pixels = handler.settings.max_pixels
        self.max_faces = handler.settings.max_faces

    def decode(self):
        from model.image_io import decode_image

        return [decode_image(data, self.max_pixels) for data in self.photos.all]

    def detect(self, images):
        detector = self.handler.pipeline.detector
        return [detector.detect(image)[: 1 if i == 0 else self.max_faces] for i, image in enumerate(images)]

    def align(self, images, faces):
        from model.alignment import align_face

        size = self.handler.pipeline.size
        return [align_face(image, face.landmarks, size) for image, found in zip(images, faces) for face in found]

    def run(self, repeats: int) -> tuple[dict, list]:
        times = {"decode": [], "detect": [], "align": [], "embed": []}
        crops = []
        for i in range(repeats + 2):
            t0 = time.perf_counter()
            images = self.decode()
            t1 = time.perf_counter()
            faces = self.detect(images)
            t2 = time.perf_counter()
            crops = self.align(images, faces)
            t3 = time.perf_counter()
            self.handler.embedder.embed(crops)
            t4 = time.perf_counter()
            if i >= 2:  # warm-up
                for key, seconds in zip(times, (t1 - t0, t2 - t1, t3 - t2, t4 - t3)):
                    times[key].append(seconds)
        return {key: stats(values) for key, values in times.items()}, crops


def handler_checks(handler, context, request: dict) -> dict:
    """Facts about one request: forward passes of the network, decodes, faces embedded."""
    import handler.face_handler as module

    forwards, decodes = [], []
    hook = handler.embedder.backbone.register_forward_hook(lambda m, i, o: forwards.append(int(i[0].shape[0])))
    real = module.decode_image
    module.decode_image = lambda *a, **k: decodes.append(1) or real(*a, **k)
    try:
        (output,) = handler.handle([request], context)
    finally:
        module.decode_image = real
        hook.remove()
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
    return {"requests": requests_n, "warmup": warmup, "model": model, "latency_s": stats(latencies),
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


class _Wrapped(torch.nn.Module):
    def __init__(self, net, config) -> None:
        super().__init__()
        self.net, self.config = net, config

    def forward(self, images):
        return self.net(images)


class _ChannelsLast(_Wrapped):
    def forward(self, images):
        return self.net(images.contiguous(memory_format=torch.channels_last))


def embedding_levers(backbone, served, batch: np.ndarray, request_crops: list, repeats: int,
                     served_threads: int) -> dict:
    from model.embedder import FaceEmbedder
    from model.fast_embedder import fused_embedder
    from model.preprocess import crops_to_tensor

    size = len(batch)
    variants = {
        "served (BN folded, flip)": served.embed,
        "eager (reference, flip)": FaceEmbedder(backbone, flip=True, batch_size=size).embed,
        "BN folded, no flip": fused_embedder(backbone, flip=False, batch_size=size).embed,
        "eager, no flip": FaceEmbedder(backbone, flip=False, batch_size=size).embed,
        "eager channels_last, flip": FaceEmbedder(_ChannelsLast(
            copy.deepcopy(backbone).to(memory_format=torch.channels_last), backbone.config),
            flip=True, batch_size=size).embed,
    }
    try:  # TorchScript (deprecated in this torch, still measured)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with torch.no_grad():
                example = crops_to_tensor(batch[:2])
                scripted = torch.jit.optimize_for_inference(
                    torch.jit.freeze(torch.jit.trace(copy.deepcopy(backbone).eval(), example).eval()))
        variants["TorchScript trace+freeze, flip"] = FaceEmbedder(_Wrapped(scripted, backbone.config),
                                                                  flip=True, batch_size=size).embed
    except Exception as exc:  # noqa: BLE001 - a lever that cannot be built is reported, not fatal
        variants_error = f"{type(exc).__name__}: {exc}"[:200]
    else:
        variants_error = None
    reference = variants["eager (reference, flip)"](batch)
    out = {"max_abs_embedding_diff_vs_reference": {
        name: float(np.abs(embed(batch) - reference).max()) for name, embed in variants.items()}}
    for threads in sorted({served_threads, 1, 2}):
        for name, embed in variants.items():
            out[f"{name} @ {threads} thread(s)"] = with_threads(threads, lambda: embed_rate(embed, batch, repeats))
    # one forward for all faces of the request vs one forward per face
    per_face = with_threads(served_threads, lambda: timed(
        lambda: [served.embed([crop]) for crop in request_crops], repeats))
    together = with_threads(served_threads, lambda: timed(lambda: served.embed(request_crops), repeats))
    out["batching"] = {"faces": len(request_crops), "one_forward_s": round(median(together), 5),
                       "forward_per_face_s": round(median(per_face), 5),
                       "speedup": round(median(per_face) / median(together), 2)}
    if variants_error:
        out["TorchScript error"] = variants_error
    return out


def detector_levers(handler, sets: list[PhotoSet], repeats: int) -> dict:
    from model.detection import DEFAULT_MAX_SIDE, FaceDetector
    from model.image_io import decode_image

    path = handler.pipeline.detector.model_path
    out = {"served_max_side": DEFAULT_MAX_SIDE}
    for photos in sets:
        images = [decode_image(data) for data in photos.all]
        sides = sorted({max(image.shape[:2]) for image in images})
        rows = {}
        for max_side in (320, 480, 640, 960):
            detector = FaceDetector(model_path=path, max_side=max_side)
            faces = sum(len(detector.detect(image)) for image in images)
            seconds = timed(lambda: [detector.detect(image) for image in images], max(3, repeats // 4))
            rows[str(max_side)] = {"detect_s": round(median(seconds), 4), "faces_found": faces}
        out[photos.source] = {"photo_sides_px": [sides[0], sides[-1]], "by_max_side": rows}
    return out


# ---------------------------------------------------------------- accuracy


def accuracy(backbone, served, cache: Path, stored_threshold: float | None) -> dict:
    """evaluate() per embedder (threshold re-fitted for each), plus the accuracy at the
    threshold stored with the weights - the one the server uses, calibrated with flip fusion."""
    if not (cache / "pairs_test.csv").is_file():
        return {"skipped": f"no face cache at {cache} (pairs_test.csv): run `make data`"}
    from model.embedder import FaceEmbedder
    from model.fast_embedder import fused_embedder
    from training.evaluation import evaluate, pair_scores
    from training.manifest import read_pairs

    test_pairs = read_pairs(cache, "test")
    same = np.array([p[2] for p in test_pairs], dtype=bool)
    out = {"stored_threshold": stored_threshold}
    for name, embedder in (("reference (eager FaceEmbedder, flip)", FaceEmbedder(backbone, flip=True)),
                           ("served (BN folded, flip)", served),
                           ("served without flip", fused_embedder(backbone, flip=False))):
        started = time.perf_counter()
        metrics = evaluate(embedder, cache)
        out[name] = {key: (round(value, 4) if isinstance(value, float) else value) for key, value in metrics.items()
                     if key in ("accuracy", "roc_auc", "tar_at_far_1pct", "eer", "threshold", "pairs",
                                "best_possible_accuracy", "threshold_source")}
        if stored_threshold is not None:
            scores = pair_scores(embedder, cache, test_pairs)
            out[name]["accuracy_at_stored_threshold"] = round(float(np.mean((scores >= stored_threshold) == same)), 4)
        out[name]["seconds"] = round(time.perf_counter() - started, 1)
    reference, fast = out["reference (eager FaceEmbedder, flip)"], out["served (BN folded, flip)"]
    out["served_minus_reference_accuracy"] = round(fast["accuracy"] - reference["accuracy"], 4)
    out["flip_gain_accuracy"] = round(fast["accuracy"] - out["served without flip"]["accuracy"], 4)
    out["flip_gain_roc_auc"] = round(fast["roc_auc"] - out["served without flip"]["roc_auc"], 4)
    return out


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serving", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=30, help="end-to-end requests after warm-up (30)")
    parser.add_argument("--repeats", type=int, default=20, help="in-process repetitions (20)")
    parser.add_argument("--no-server", action="store_true", help="in process only")
    parser.add_argument("--no-accuracy", action="store_true", help="skip the pairsDevTest accuracy check")
    parser.add_argument("--no-levers", action="store_true", help="skip the lever measurements")
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
    report: dict = {"generated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
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
        "torch_threads": threads, "settings": str(handler.settings), "model": handler.label,
        "handle_s": stats(handle_s), "stages_s": stages,
        "stages_sum_median_s": round(sum(stage["median"] for stage in stages.values()), 4),
        "checks": handler_checks(handler, context, request),
    }
    if "end_to_end" in report:
        e2e, inproc = report["end_to_end"]["latency_s"]["median"], report["in_process"]["handle_s"]["median"]
        report["server_overhead"] = {"ratio": round(e2e / inproc, 2), "extra_ms": round((e2e - inproc) * 1000, 1),
                                     "same_model": report["end_to_end"]["model"] == handler.label}

    from model.embedder import load_backbone

    backbone, meta = load_backbone(args.weights)
    tiles = np.stack([crops[i % len(crops)] for i in range(64)]) if crops else np.zeros((64, 112, 112, 3), np.uint8)
    print("embedding throughput ...", flush=True)
    report["embedding"] = {"served": embed_rate(handler.embedder.embed, tiles, args.repeats),
                           "batch": 64, "torch_threads": threads, "flip": handler.embedder.flip,
                           "note": "aligned faces per second, batched; with flip each face is 2 forwards"}
    if not args.no_levers:
        print("levers ...", flush=True)
        report["levers"] = {
            "embedding": embedding_levers(backbone, handler.embedder, tiles, crops, max(5, args.repeats // 2),
                                          threads),
            "detector": detector_levers(handler, [photos] + ([skimage_set()] if photos.source != "skimage" else []),
                                        args.repeats),
        }
    if not args.no_accuracy:
        print("accuracy on pairsDevTest (reference vs served embedder) ...", flush=True)
        stored = meta.get("threshold")
        report["accuracy"] = accuracy(backbone, handler.embedder, args.cache,
                                      None if stored is None else float(stored))

    targets = {"embedding_faces_per_s": report["embedding"]["served"]["faces_per_s"],
               "embedding_target": EMBED_TARGET_FPS,
               "embedding_met": report["embedding"]["served"]["faces_per_s"] >= EMBED_TARGET_FPS}
    if "end_to_end" in report:
        e2e = report["end_to_end"]["latency_s"]["median"]
        targets |= {"end_to_end_median_s": e2e, "end_to_end_target_s": E2E_TARGET_S,
                    "end_to_end_met": e2e <= E2E_TARGET_S}
    report["targets"] = targets
    report["machine_after"] = machine_state()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print_summary(report)
    print(f"wrote {args.out}")
    return 0


def print_summary(report: dict) -> None:
    lines = [f"photos: {report['photos']}, {report['request']}"]
    if "end_to_end" in report:
        lat = report["end_to_end"]["latency_s"]
        lines.append(f"end to end: median {lat['median']:.3f} s, p95 {lat['p95']:.3f} s over {lat['n']} requests")
    inproc = report["in_process"]
    lines.append(f"in process: handle() median {inproc['handle_s']['median']:.3f} s  ("
                 + ", ".join(f"{k} {v['median'] * 1000:.1f} ms" for k, v in inproc["stages_s"].items()) + ")")
    if "server_overhead" in report:
        lines.append(f"server overhead: x{report['server_overhead']['ratio']} "
                     f"(+{report['server_overhead']['extra_ms']} ms)")
    lines.append(f"embedding: {report['embedding']['served']['faces_per_s']} faces/s batched")
    if "accuracy" in report and "skipped" not in report["accuracy"]:
        acc = report["accuracy"]
        lines.append("accuracy pairsDevTest: " + ", ".join(
            f"{name} {values['accuracy']:.4f}" for name, values in acc.items() if isinstance(values, dict)))
    elif "accuracy" in report:
        lines.append(f"accuracy: {report['accuracy']['skipped']}")
    targets = report["targets"]
    lines.append("targets: " + ", ".join(f"{k}={v}" for k, v in targets.items() if k.endswith("_met")))
    if not report["machine"]["idle"]:
        lines.append("NOTE: measured on a busy machine - not representative")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
