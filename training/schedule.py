"""Warm-up + cosine learning-rate schedule over a budget of steps *or* minutes.

Progress is the larger of steps done / planned and time used / allowed, so a run slowed by
a busy machine still anneals fully before its wall-clock cap instead of stopping at a high
learning rate. When the time cap never binds the schedule is purely step-based (reproducible).
"""
from __future__ import annotations

import math


def progress(step: int, total_steps: int, seconds: float, max_seconds: float) -> float:
    return min(1.0, max(step / max(1, total_steps), seconds / max(1e-9, max_seconds)))


def lr_factor(fraction: float, warmup: float = 0.03) -> float:
    if fraction < warmup:
        return max(fraction / warmup, 0.01)
    return 0.5 * (1 + math.cos(math.pi * (fraction - warmup) / (1 - warmup)))


def set_lr(optimizer, base_lr: float, fraction: float, warmup: float = 0.03) -> float:
    lr = base_lr * lr_factor(fraction, warmup)
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("scale", 1.0)  # a group's own multiple of the base rate
    return lr
