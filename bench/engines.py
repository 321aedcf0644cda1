"""Every way `make bench` runs the embedding network, for the engine levers: torch (eager,
BatchNorm folded, channels_last), ONNX Runtime and OpenVINO (f32, bf16) on the exported
model, and int8 (ONNX Runtime dynamic; static QDQ calibrated on aligned crops, run by ONNX
Runtime and by OpenVINO). Each is a factory (threads, flip) -> embedder with `.embed(crops)`.

Only the served engine lives in model/; the int8 builds stay here because none holds the
accuracy (reports/bench.json, docs/performance.md).
"""
from __future__ import annotations

import copy
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from model.embedder import FaceEmbedder
from model.fast_embedder import fused_embedder
from model.onnx_embedder import INPUT, OnnxEmbedder, export_onnx, onnxruntime_runner, openvino_runner
from model.preprocess import crops_to_tensor

Factory = Callable[[int, bool], object]


class _ChannelsLast(torch.nn.Module):
    def __init__(self, backbone) -> None:
        super().__init__()
        self.net, self.config = copy.deepcopy(backbone).to(memory_format=torch.channels_last), backbone.config

    def forward(self, images):
        return self.net(images.contiguous(memory_format=torch.channels_last))


def int8_models(model: bytes, calibration: np.ndarray) -> dict[str, bytes]:
    """ONNX Runtime's int8 builds of `model`: dynamic (weights int8, activations quantised
    per run) and static QDQ (per-channel weights, activation ranges from `calibration`, N
    aligned crops, by min/max)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_dynamic,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    images = crops_to_tensor(calibration).numpy()

    class Crops(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter([{INPUT: images[i : i + 16]} for i in range(0, len(images), 16)])

        def get_next(self):
            return next(self.batches, None)

    with tempfile.TemporaryDirectory() as folder:
        source, prepared = Path(folder) / "fp32.onnx", Path(folder) / "prepared.onnx"
        dynamic, static = Path(folder) / "dynamic.onnx", Path(folder) / "static.onnx"
        source.write_bytes(model)
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_dynamic(str(prepared), str(dynamic), weight_type=QuantType.QInt8, per_channel=True)
        quantize_static(str(prepared), str(static), Crops(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        return {"dynamic": dynamic.read_bytes(), "static": static.read_bytes()}


def engine_variants(backbone, calibration: np.ndarray) -> dict[str, Factory]:
    model = export_onnx(backbone)  # at the input size the weights declare
    int8 = int8_models(model, calibration)
    dim = int(backbone.config.embedding_dim)

    def onnx(runner: Callable) -> Factory:
        return lambda threads, flip: OnnxEmbedder(runner(threads), dim, flip=flip)

    return {
        "torch eager": lambda threads, flip: FaceEmbedder(backbone, flip=flip),
        "torch BN folded": lambda threads, flip: fused_embedder(backbone, flip=flip),
        "torch channels_last": lambda threads, flip: FaceEmbedder(_ChannelsLast(backbone), flip=flip),
        "onnxruntime f32": onnx(lambda threads: onnxruntime_runner(model, threads)),
        "openvino f32": onnx(lambda threads: openvino_runner(model, threads, "f32")),
        "openvino bf16": onnx(lambda threads: openvino_runner(model, threads, "bf16")),
        "onnxruntime int8 dynamic": onnx(lambda threads: onnxruntime_runner(int8["dynamic"], threads)),
        "onnxruntime int8 static": onnx(lambda threads: onnxruntime_runner(int8["static"], threads)),
        "openvino int8 static": onnx(lambda threads: openvino_runner(int8["static"], threads, "f32")),
    }
