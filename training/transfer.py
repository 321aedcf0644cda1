"""Starting from a pretrained face network without forgetting it: which weights a stage
starts from, which blocks it may change, and a pull back towards where they started.

Guards (each a setting, measured in the ablation):
- `freeze_blocks`: the first N blocks of `backbone.features` keep their weights;
- `freeze_bn_stats`: BatchNorm running statistics stay as pretrained (augmented or small
  batches would otherwise re-estimate them);
- `anchor`: L2-SP, a penalty anchor * ||w - w_start||^2 on the trainable weights, a pull
  towards the pretrained solution instead of towards zero;
- `interpolate`: after training, weight-space ensembling (WiSE-FT): the weights become
  w_from + alpha (w_tuned - w_from), w_from the pretrained network (`interpolate_from`), alpha
  chosen on validation people.
"""
from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from model.alignment import FACE_SIZE
from model.backbone import ARCHITECTURES, BackboneConfig, FaceBackbone
from model.embedder import load_backbone

RANDOM = "random:"  # init `random:<architecture>`: random weights (the from-scratch path)


def start_backbone(params: dict, pretrained: str | None = None) -> FaceBackbone:
    """init: `random:<arch>` (random weights of that architecture, for the cache's crops;
    `embedding_dim` where the architecture leaves it free), `sface` (the converted OpenCV SFace
    weights), `pretrained` (the file `pretrained`, e.g. the SimCLR stage's output) or a
    checkpoint path. Any start but `random:` brings its own architecture and sizes."""
    init, dropout = str(params["init"]), params.get("dropout", 0.0)
    if init == "random":
        raise ValueError("init: random needs its architecture: random:" + " or random:".join(ARCHITECTURES))
    if init.startswith(RANDOM):
        arch = init.removeprefix(RANDOM)
        return FaceBackbone(BackboneConfig.for_arch(arch, params.get("embedding_dim", BackboneConfig.embedding_dim),
                                                    FACE_SIZE, dropout))
    if init == "sface":
        from model.sface_convert import convert

        return convert(dropout=dropout)
    loaded, _ = load_backbone(pretrained if init == "pretrained" else init)
    backbone = FaceBackbone(replace(loaded.config, dropout=dropout))  # dropout holds no weights
    backbone.load_state_dict(loaded.state_dict())
    return backbone


def frozen_prefix(backbone: FaceBackbone, blocks: int) -> list[nn.Module]:
    """Switch off gradients of the first `blocks` feature blocks; returns them."""
    frozen = list(backbone.features.children())[:blocks]
    for module in frozen:
        module.requires_grad_(False)
    return frozen


def set_train_mode(backbone: FaceBackbone, frozen: list[nn.Module], freeze_bn_stats: bool) -> None:
    """backbone.train(), except frozen blocks (and, if asked, every BatchNorm) stay in eval mode."""
    backbone.train()
    for module in frozen:
        module.eval()
    if freeze_bn_stats:
        for module in backbone.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


class WeightAnchor:
    """L2-SP: strength * sum ||w - w_start||^2 over the trainable parameters."""

    def __init__(self, module: nn.Module, strength: float) -> None:
        self.strength = strength
        self.start = {name: p.detach().clone() for name, p in module.named_parameters() if p.requires_grad}
        self.module = module

    def __call__(self) -> torch.Tensor:
        if not self.strength:
            return torch.zeros(())
        params = dict(self.module.named_parameters())
        return self.strength * sum((params[name] - start).square().sum() for name, start in self.start.items())


def blend(backbone: nn.Module, start: dict[str, torch.Tensor], tuned: dict[str, torch.Tensor], alpha: float) -> None:
    """Load start + alpha * (tuned - start) into `backbone` (alpha 0: where training started,
    1: where it ended); integer buffers (BatchNorm's step counter) are taken from `tuned`."""
    backbone.load_state_dict({name: torch.lerp(start[name].to(value.dtype), value, alpha) if value.is_floating_point()
                              else value for name, value in tuned.items()})
