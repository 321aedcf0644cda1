"""The embedder the server builds (`engine_embedder`, the engine named in
handler/model-config.yaml): the torch backbone exported to ONNX and run by an inference engine
made for CPUs (OpenVINO, or ONNX Runtime), or for `torch` the BatchNorm-folded network
(model.fast_embedder). Every engine embeds through model.embedder.Embedder's batch loop.

Any backbone that `load_backbone` returns works: the export traces whatever nn.Module it is
given, with a dynamic batch axis, so all faces of a request still go through one run. The
engines fold BatchNorm into the convolutions and pick kernels for this CPU when the model is
compiled; on 2 cores both embed faster than torch eager, OpenVINO fastest (`make bench`,
reports/bench.json). The export is made in memory when the worker starts, from the weights
file in the .mar: nothing extra to ship or keep in step, nothing downloaded.
"""
from __future__ import annotations

import io
import warnings
from collections.abc import Callable

import numpy as np
import torch
from torch import nn

from model.alignment import FACE_SIZE
from model.embedder import Embedder

INPUT, OUTPUT = "images", "features"
ENGINES = ("openvino", "onnxruntime", "torch")
PRECISIONS = ("f32", "bf16")  # bf16: OpenVINO on CPUs with bf16 instructions, else f32

Runner = Callable[[np.ndarray], np.ndarray]  # N x 3 x H x W float32 -> N x D features


def input_size_of(network: nn.Module) -> int:
    """The input size the weights declare (their config); a bare module takes the aligned crops."""
    config = getattr(network, "config", None)
    return config.input_size if config is not None else FACE_SIZE


def export_onnx(backbone: nn.Module, opset: int = 17) -> bytes:
    """The backbone (eval mode, un-normalised features) as an ONNX model, batch axis dynamic,
    for the input size it declares (`input_size_of`).

    The TorchScript-based exporter (dynamo=False) needs only the `onnx` package; torch's
    newer exporter would add `onnxscript` for no gain on a plain conv net."""
    backbone = backbone.eval()
    size = input_size_of(backbone)
    example = torch.zeros(2, 3, size, size)
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # the exporter's deprecation notice
        torch.onnx.export(backbone, (example,), buffer, dynamo=False, opset_version=opset,
                          input_names=[INPUT], output_names=[OUTPUT],
                          dynamic_axes={INPUT: {0: "faces"}, OUTPUT: {0: "faces"}})
    return buffer.getvalue()


def openvino_runner(model: bytes, threads: int = 1, precision: str = "f32") -> Runner:
    """OpenVINO on the CPU: one stream of `threads` threads (latency: one request's faces
    at a time), threads not pinned to cores (the frontend and the other worker share them)."""
    import openvino as ov

    core = ov.Core()
    compiled = core.compile_model(core.read_model(model, b""), "CPU", {
        "INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": precision, "ENABLE_CPU_PINNING": False})
    return lambda images: compiled({0: images})[0]


def onnxruntime_runner(model: bytes, threads: int = 1) -> Runner:
    """ONNX Runtime on the CPU with every graph optimisation and no spinning: idle threads
    that spin steal the core that the frontend or the other worker needs."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # notices about unused initialisers are noise here
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    return lambda images: session.run([OUTPUT], {INPUT: images})[0]


class OnnxEmbedder(Embedder):
    """Aligned BGR crops -> L2-normalised embeddings through `run` (one call per batch, flip
    fusion in the same call): the batch loop of model.embedder.Embedder."""

    def __init__(self, run: Runner, embedding_dim: int, flip: bool = True, batch_size: int = 64) -> None:
        self.run = run
        super().__init__(self._features, embedding_dim, flip, batch_size)

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        return torch.from_numpy(np.asarray(self.run(images.numpy()), dtype=np.float32))


def engine_embedder(backbone: nn.Module, engine: str = "openvino", threads: int = 1, precision: str = "f32",
                    flip: bool = True, batch_size: int = 64):
    """The backbone served by `engine` (one of ENGINES): an OnnxEmbedder, or for "torch" the
    BatchNorm-folded FaceEmbedder."""
    if engine not in ENGINES or precision not in PRECISIONS:
        raise ValueError(f"engine {engine!r} / precision {precision!r}: expected one of {ENGINES} / {PRECISIONS}")
    if engine == "torch":
        from model.fast_embedder import fused_embedder

        return fused_embedder(backbone, flip=flip, batch_size=batch_size)
    size = input_size_of(backbone)
    model = export_onnx(backbone)
    run = openvino_runner(model, threads, precision) if engine == "openvino" else onnxruntime_runner(model, threads)
    warm = run(np.zeros((1, 3, size, size), np.float32))  # the first run compiles kernels: not on a request
    return OnnxEmbedder(run, int(warm.shape[1]), flip=flip, batch_size=batch_size)
