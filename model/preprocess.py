"""Aligned BGR uint8 crops -> the network's input tensor. One definition for all stages."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

MEAN = 0.5
STD = 0.5


def crops_to_uint8(crops: Sequence[np.ndarray] | np.ndarray) -> torch.Tensor:
    """N aligned HxWx3 BGR uint8 crops -> Nx3xHxW uint8 RGB tensor (what augmentation takes)."""
    batch = np.ascontiguousarray(np.asarray(crops)[..., ::-1])  # BGR -> RGB
    return torch.from_numpy(batch).permute(0, 3, 1, 2)


def crops_to_tensor(crops: Sequence[np.ndarray] | np.ndarray) -> torch.Tensor:
    """N aligned HxWx3 BGR uint8 crops -> Nx3xHxW float RGB tensor in [-1, 1]."""
    return crops_to_uint8(crops).float().div_(255.0).sub_(MEAN).div_(STD)


def normalize(tensor: torch.Tensor) -> torch.Tensor:
    """A float RGB tensor in [0, 1] (torchvision transforms' output) -> network input."""
    return (tensor - MEAN) / STD
