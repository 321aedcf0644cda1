"""The SFace face-recognition network (OpenCV model zoo) as torch layers.

A MobileFaceNet-style plain stack: a 3x3 conv, 13 depthwise-separable blocks (each conv
followed by BatchNorm and PReLU), BatchNorm on the 1024x7x7 map, flatten, a 50176 -> 128
linear layer and BatchNorm1d. Layer names follow the ONNX graph's (`conv_<k>`, `conv_<k>_dw`)
so that `model.sface_convert` maps weights one to one.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

EMBEDDING_DIM = 128
INPUT_SIZE = 112
CHANNELS = 1024
BLOCK_EPS = 1e-3   # the graph's BatchNorm epsilons: 1e-3 in the blocks, 2e-5 in the output layer
OUTPUT_EPS = 2e-5
# (out channels, depthwise stride) of blocks conv_2 ... conv_14; conv_1 is a 3x3 conv to 32.
BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1),
          (512, 1), (512, 1), (1024, 2), (1024, 1)]


class ConvBlock(nn.Sequential):
    def __init__(self, inputs: int, outputs: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(OrderedDict(
            conv=nn.Conv2d(inputs, outputs, kernel, stride, kernel // 2, groups=groups, bias=False),
            bn=nn.BatchNorm2d(outputs, eps=BLOCK_EPS),
            prelu=nn.PReLU(outputs),
        ))


class InputScale(nn.Module):
    """The project's input is (x - 127.5) / 127.5; SFace was trained on (x - 127.5) / 128."""

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images * (127.5 / 128.0)


def sface_features() -> nn.Sequential:
    """112x112x3 -> 1024x7x7."""
    layers: OrderedDict[str, nn.Module] = OrderedDict(scale=InputScale(), conv_1=ConvBlock(3, 32, 3))
    channels = 32
    for index, (outputs, stride) in enumerate(BLOCKS, start=2):
        layers[f"conv_{index}_dw"] = ConvBlock(channels, channels, 3, stride, groups=channels)
        layers[f"conv_{index}"] = ConvBlock(channels, outputs, 1)
        channels = outputs
    return nn.Sequential(layers)


def sface_output(dropout: float) -> nn.Sequential:
    """insightface's "E" output layer: BN - dropout - flatten - FC - BN1d."""
    side = INPUT_SIZE // 16
    return nn.Sequential(
        nn.BatchNorm2d(CHANNELS, eps=OUTPUT_EPS),
        nn.Dropout(dropout),
        nn.Flatten(),
        nn.Linear(CHANNELS * side * side, EMBEDDING_DIM),
        nn.BatchNorm1d(EMBEDDING_DIM, eps=OUTPUT_EPS),
    )
