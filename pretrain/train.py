"""`make pretrain`: SimCLR on unlabeled aligned faces (CelebA + LFW peopleDevTrain).

    python -m pretrain.train [--smoke] [--resume] [--cache-dir C]

Starts from `init` (random:<arch>, or the pretrained SFace network with the guards of
`training.transfer`). Writes <out>/checkpoint.pt (resumable, every few minutes),
<out>/backbone.pt (the pretrained backbone), reports/pretrain_loss.png and
reports/pretrain.json (SSL-only verification accuracy on pairsDevTest, before and after).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
from lightly.loss import NTXentLoss
from PIL import Image
from torch.utils.data import Dataset

from data.manifest import load_crops, training_rows
from evaluation.metrics import evaluate, write_json
from model.embedder import FaceEmbedder, save_checkpoint
from pretrain.simclr import SimCLR, face_transform
from training.checkpoint import seed_everything
from training.curves import plot_curves
from training.loop import train_loop
from training.outputs import cache_dir as stage_cache_dir
from training.outputs import reports_dir, stage_arguments
from training.params import load_params
from training.transfer import RANDOM, WeightAnchor, frozen_prefix, set_train_mode, start_backbone


class TwoViews(Dataset):
    """Aligned crops (BGR uint8, in memory) -> two augmented views each."""

    def __init__(self, crops: np.ndarray, transform) -> None:
        self.crops, self.transform = crops, transform

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, index: int):
        view_a, view_b = self.transform(Image.fromarray(self.crops[index][:, :, ::-1]))
        return view_a, view_b


def build(params: dict) -> tuple[SimCLR, torch.optim.Optimizer, list, WeightAnchor]:
    backbone = start_backbone(params)
    frozen = frozen_prefix(backbone, params.get("freeze_blocks", 0))
    anchor = WeightAnchor(backbone, params.get("anchor", 0.0))
    model = SimCLR(backbone, params["projection_dim"])
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=params["lr"], weight_decay=params["weight_decay"])
    return model, optimizer, frozen, anchor


def train(params: dict, cache_dir: Path, resume: bool) -> dict:
    seed_everything(params["seed"])
    out = Path(params["out"])
    out.mkdir(parents=True, exist_ok=True)
    rows = training_rows(cache_dir, "pretrain")
    crops = load_crops(cache_dir, [r["file"] for r in rows])
    model, optimizer, frozen, anchor = build(params)
    dataset = TwoViews(crops, face_transform(model.backbone.config.input_size))  # views of the size the network takes
    model.to(memory_format=torch.channels_last)  # about twice as fast on CPU
    criterion = NTXentLoss(temperature=params["temperature"])

    def train_mode() -> None:
        set_train_mode(model.backbone, frozen, params.get("freeze_bn_stats", False))
        model.projection_head.train()

    def step(views: tuple, lr: float, state: dict):
        view_a, view_b = (v.contiguous(memory_format=torch.channels_last) for v in views)
        contrastive = criterion(model(view_a), model(view_b))
        loss = contrastive + anchor()
        return loss, (contrastive.item(), lr), {"loss": f"{contrastive.item():.3f}",
                                               "anchor": f"{loss.item() - contrastive.item():.4f}"}

    state = train_loop(params, dataset, model, optimizer, step, out / "checkpoint.pt", resume, "simclr",
                       train_mode=train_mode, images_per_sample=2)
    save_checkpoint(out / "backbone.pt", model.backbone.eval(), stage="simclr", init=str(params["init"]),
                    steps=state["step"], seconds=round(state["seconds"]))
    return {"steps": state["step"], "epochs": round(state["step"] / state["steps_per_epoch"], 2),
            "photos": len(dataset), "seconds": round(state["seconds"]),
            "images_per_second": round(2 * state["batch"] * state["step"] / max(1.0, state["seconds"]), 1),
            "history": state["history"], "model": model}


def main() -> None:
    parser = stage_arguments(__doc__.splitlines()[0])
    parser.add_argument("--resume", action="store_true", help="continue from <out>/checkpoint.pt")
    args = parser.parse_args()
    params = load_params("pretrain", args.smoke)
    cache_dir = stage_cache_dir(args)
    torch.set_num_threads(params.get("threads", 2))
    result = train(params, cache_dir, args.resume)
    model, history = result.pop("model"), result.pop("history")

    reports = reports_dir(args.smoke, args.reports)
    plot_curves(reports / "pretrain_loss.png", {"NT-Xent loss": [(s, loss) for s, loss, _ in history],
                                                 "learning rate": [(s, lr) for s, _, lr in history]},
                title=f"SimCLR pretraining ({result['photos']} faces, {result['epochs']} epochs)")
    seed_everything(params["seed"])
    before = start_backbone(params).eval()  # the same start, rebuilt: random init (seeded) or SFace
    flip = params.get("flip", True)
    metrics = {  # LFW only: the held-out benchmark is for fine-tuned models (finetune.transfer_ablation)
        "simclr": evaluate(FaceEmbedder(model.backbone.eval(), flip=flip), cache_dir, heldout=False),
        "random_init" if str(params["init"]).startswith(RANDOM) else "before":
            evaluate(FaceEmbedder(before, flip=flip), cache_dir, heldout=False),
    }
    summary = {"params": {k: v for k, v in params.items()}, "run": result, "pairsDevTest": metrics,
               "command": "make pretrain" + (" ARGS=--smoke" if args.smoke else "")}
    write_json(reports / "pretrain.json", summary)
    if params.get("export"):
        shutil.copy(Path(params["out"]) / "backbone.pt", params["export"])
    print(json.dumps(metrics, indent=2))


if __name__ == "__main__":
    main()
