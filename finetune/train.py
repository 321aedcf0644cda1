"""`make finetune`: the backbone fine-tuned with ArcFace on LFW peopleDevTrain identities
(+ CelebA identities when `classes: finetune+celeba`), starting from the SimCLR backbone
(or `init`), with the guards of `training.transfer` when that start is already a face network.

    python -m finetune.train [--smoke] [--resume] [--variant NAME] [--set KEY=VALUE ...]

A variant (params.yaml `ablations`) overrides init / head / budget for the ablation runs.
Writes <out>/checkpoint.pt (resumable), <out>/backbone.pt (with the serving threshold in its
meta: `evaluation.metrics.calibrate`), <out>/history.json and <out>/curves.png.
"""
from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import yaml
from torch.utils.data import Dataset
from torchvision.transforms import v2
from tqdm import tqdm

from data.manifest import load_crops, training_rows
from evaluation.metrics import calibrate, evaluate
from finetune.losses import build_head
from model.embedder import FaceEmbedder, content_version, load_backbone, save_checkpoint
from model.preprocess import crops_to_uint8, normalize
from training.checkpoint import seed_everything
from training.curves import plot_curves
from training.loop import train_loop
from training.outputs import cache_dir as stage_cache_dir
from training.outputs import experiment_dir, reports_dir, stage_arguments
from training.params import load_params
from training.transfer import WeightAnchor, blend, frozen_prefix, set_train_mode, start_backbone


class LabelledFaces(Dataset):
    """Aligned crops with identity labels. Augmentation: flip, a small shift/scale (alignment
    noise) and, when asked, colour jitter and grey crops (LFW mixes colour and grey photos)."""

    def __init__(self, crops: np.ndarray, labels: list[int], augment: bool = True,
                 color_jitter: float = 0.0, grayscale: float = 0.0) -> None:
        self.images = crops_to_uint8(crops)  # uint8 in memory (~0.6 GB for the full set)
        self.labels = torch.tensor(labels)
        self.augment = v2.Compose([
            v2.RandomHorizontalFlip(),
            v2.RandomAffine(degrees=0, translate=(0.04, 0.04), scale=(0.93, 1.07)),
            v2.ColorJitter(brightness=color_jitter, contrast=color_jitter, saturation=color_jitter),
            v2.RandomGrayscale(p=grayscale),
        ]) if augment else None

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int):
        image = self.augment(self.images[index]) if self.augment else self.images[index]
        return normalize(image.float() / 255.0), self.labels[index]


def identities(rows: list[dict], min_photos: int) -> tuple[list[dict], list[int], int]:
    counts = Counter(r["identity"] for r in rows)
    kept = sorted(name for name, n in counts.items() if n >= min_photos)
    label_of = {name: i for i, name in enumerate(kept)}
    rows = [r for r in rows if r["identity"] in label_of]
    return rows, [label_of[r["identity"]] for r in rows], len(kept)


@torch.no_grad()
def imprint(head: torch.nn.Module, embeddings: torch.Tensor, targets: torch.Tensor, seen: torch.Tensor) -> None:
    """Weight imprinting: a class's ArcFace weight starts at the (normalised) mean embedding of
    its first batch, so the head agrees with a pretrained network from the first step instead
    of pushing random gradients into it."""
    for label in targets.unique():
        if not seen[label]:
            head.weight[label] = torch.nn.functional.normalize(embeddings[targets == label].mean(0), dim=0)
            seen[label] = True


def train(params: dict, cache_dir: Path, out: Path, resume: bool) -> dict:
    seed_everything(params["seed"])
    out.mkdir(parents=True, exist_ok=True)
    rows, labels, classes = identities(training_rows(cache_dir, params["classes"]), params["min_photos"])
    dataset = LabelledFaces(load_crops(cache_dir, [r["file"] for r in rows]), labels,
                            color_jitter=params["color_jitter"], grayscale=params["grayscale"])
    steps_per_epoch = len(dataset) // min(params["batch_size"], len(dataset))

    backbone = start_backbone(params, params["pretrained"])
    frozen = frozen_prefix(backbone, params["freeze_blocks"])
    anchor = WeightAnchor(backbone, params["anchor"])
    head = build_head(params["head"], backbone.config.embedding_dim, classes, params["scale"], params["margin"])
    model = torch.nn.ModuleDict({"backbone": backbone, "head": head}).to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW([  # layer-wise: the new head learns faster than the pretrained body
        {"params": [p for p in backbone.parameters() if p.requires_grad], "scale": 1.0},
        {"params": list(head.parameters()), "scale": params["head_lr_scale"]}],
        lr=params["lr"], weight_decay=params["weight_decay"])
    margin_warmup = params["margin_warmup_epochs"] * steps_per_epoch

    def step(batch: tuple, lr: float, state: dict):
        images, targets = batch
        if hasattr(head, "margin"):  # margin warm-up: softmax first, then the full margin
            head.margin = params["margin"] * min(1.0, state["step"] / max(1, margin_warmup))
        embeddings = backbone(images.contiguous(memory_format=torch.channels_last))
        if params["imprint"]:
            imprint(head, embeddings, targets, state["imprinted"])
        loss, logits = head(embeddings, targets)
        loss = loss + anchor()
        accuracy = (logits.argmax(1) == targets).float().mean().item()
        return loss, (loss.item(), accuracy), {"loss": f"{loss.item():.3f}", "acc": f"{accuracy:.2f}"}

    def after_epoch(state: dict, steps_per_epoch: int) -> None:
        """Every `eval_every` finished epochs: the protocol (pairsDevTrain) accuracy, for the curves."""
        finished_epoch = state["step"] % steps_per_epoch == 0
        if finished_epoch and params["eval_every"] and (state["step"] // steps_per_epoch) % params["eval_every"] == 0:
            metrics = evaluate(FaceEmbedder(backbone.eval(), flip=params["flip"]), cache_dir)
            state["evals"].append((state["step"] // steps_per_epoch, metrics["threshold_pairs_accuracy"]))
            tqdm.write(f"epoch {state['step'] // steps_per_epoch}: "
                       f"pairsDevTrain accuracy {metrics['threshold_pairs_accuracy']:.4f}")

    state = train_loop(params, dataset, model, optimizer, step, out / "checkpoint.pt", resume,
                       f"finetune {params['head']}",
                       state={"evals": [], "imprinted": torch.zeros(classes, dtype=torch.bool)},
                       train_mode=lambda: set_train_mode(backbone, frozen, params["freeze_bn_stats"]),
                       after_epoch=after_epoch)
    return {"backbone": backbone.eval(), "config": backbone.config.to_dict(), "classes": classes,
            "photos": len(dataset), "steps": state["step"],
            "epochs": round(state["step"] / steps_per_epoch, 2), "seconds": round(state["seconds"]),
            "images_per_second": round(state["batch"] * state["step"] / max(1.0, state["seconds"]), 1),
            "history": state["history"], "evals": state["evals"]}


def interpolate_on_validation(backbone: torch.nn.Module, params: dict, cache_dir: Path) -> dict:
    """Weight-space ensembling: the weights become start + alpha (tuned - start), start being
    `interpolate_from` (an `init`: the pretrained face network before SimCLR, by default), with
    the alpha of `interpolate` whose calibration people (validation, never the test people)
    have the highest true-match rate at the `target_far` threshold; ties go to the more tuned."""
    tuned = {name: value.detach().clone() for name, value in backbone.state_dict().items()}
    start = start_backbone(params | {"init": params["interpolate_from"]}, params["pretrained"]).state_dict()
    tar = {}
    for alpha in tqdm(params["interpolate"], desc="interpolation on validation", unit="alpha"):
        blend(backbone, start, tuned, alpha)
        tar[alpha] = calibrate(FaceEmbedder(backbone, flip=params["flip"]), cache_dir, params["target_far"])["tar"]
    chosen = max(tar, key=lambda alpha: (tar[alpha], alpha))
    blend(backbone, start, tuned, chosen)
    return {"alpha": chosen, "validation_tar": tar}


def run(params: dict, cache_dir: Path, out: Path, resume: bool = False) -> dict:
    """Train, interpolate towards the start on validation, evaluate (the serving threshold fitted
    for `target_far` on the held-out calibration people, figures on pairsDevTest; pairsDevTrain
    gives only the protocol threshold), save."""
    result = train(params, cache_dir, out, resume)
    backbone, history, evals = result.pop("backbone"), result.pop("history"), result.pop("evals")
    if params["interpolate"] != [1.0]:
        result["interpolation"] = interpolate_on_validation(backbone, params, cache_dir)
    metrics = evaluate(FaceEmbedder(backbone, flip=params["flip"]), cache_dir, out_dir=out, name="finetune",
                       far=params["target_far"])
    save_checkpoint(out / "backbone.pt", backbone, threshold=metrics["threshold"], stage=f"finetune-{params['head']}",
                    init=str(params["init"]), flip=params["flip"], metrics=metrics,
                    interpolation=result.get("interpolation", {}).get("alpha", 1.0))
    steps_per_epoch = result["steps"] / max(result["epochs"], 1e-9)  # evals are per epoch; the x axis is steps
    plot_curves(out / "curves.png", {
        "loss": [(s, loss) for s, loss, _ in history],
        "batch accuracy": [(s, a) for s, _, a in history],
        "pairsDevTrain accuracy": [(e * steps_per_epoch, a) for e, a in evals],
    }, title=f"fine-tuning ({params['head']}, init: {params['init']})")
    summary = {"params": params, "run": result, "pairsDevTest": metrics, "evals": evals}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "history.json").write_text(json.dumps(history) + "\n")
    return summary


def export(out: Path, target: Path, summary: dict, reports: Path) -> None:
    """The fine-tuned backbone becomes the served model: weights, calibrated threshold and
    its version in the checkpoint, its figures in reports/. The version is a readable prefix
    (architecture, stages) and a hash of the tensors: a rerun that reproduces the weights
    reproduces the version, and the galleries enrolled with them stay valid."""
    backbone, meta = load_backbone(out / "backbone.pt")
    stages = "simclr-arcface" if summary["params"]["init"] == "pretrained" else "arcface"
    arch = {"sface": "sface", "mobilenet_v3_small": "mnv3s"}[backbone.config.name]
    prefix = f"{arch}-{stages}"
    version = content_version(prefix, backbone.state_dict())
    save_checkpoint(target, backbone, threshold=meta["threshold"], version=version, version_prefix=prefix,
                    flip=meta.get("flip", True), threshold_far=summary["params"]["target_far"],
                    far_thresholds=meta["metrics"]["calibration"]["far_thresholds"],
                    interpolation=meta.get("interpolation", 1.0),
                    metrics=meta["metrics"], source=str(out / "backbone.pt"))
    shutil.copy(out / "curves.png", reports / "finetune_curves.png")
    (reports / "finetune.json").write_text(json.dumps(summary | {"command": "make finetune"}, indent=2) + "\n")
    print(f"exported {target} (version {version}, threshold {meta['threshold']:.4f})")


def variant_params(smoke: bool, variant: str | None) -> dict:
    """The finetune section, or with a variant: the ablation budget and that variant's
    overrides on top of it (so every variant differs only where it says)."""
    params = load_params("finetune", smoke)
    if variant:
        section = "transfer_ablations" if variant in load_params("transfer_ablations")["variants"] else "ablations"
        ablations = load_params(section, smoke)
        params.update(ablations.get("base", {}))
        params.update(ablations.get("budget", {}))
        params.update(ablations["variants"][variant])
        params["out"] = str(Path(ablations["out"]) / variant)
    return params


def overrides(pairs: list[str]) -> dict:
    """["epochs=40", "export=null"] -> {"epochs": 40, "export": None}; unknown keys are refused."""
    known = load_params("finetune", smoke=False)
    values = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or key not in known:
            raise SystemExit(f"--set {pair!r}: expected KEY=VALUE with KEY one of {', '.join(sorted(known))}")
        values[key] = yaml.safe_load(value)
    return values


def experiment_defaults(pairs: list[str]) -> dict:
    """An experiment (any --set) neither exports nor writes over runs/finetune unless told to."""
    if not pairs:
        return {}
    return {"export": None, "out": str(experiment_dir("_".join(p.replace("=", "-") for p in sorted(pairs))))}


def main() -> None:
    parser = stage_arguments(__doc__.splitlines()[0])
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--variant", help="an ablation variant from params.yaml")
    parser.add_argument("--init", help="override the initial backbone (a backbone.pt, sface or random:<arch>)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="an experiment: override a finetune parameter (YAML value), e.g. --set min_photos=1; "
                             "writes to runs/experiments/... and exports nothing unless out= / export= are set")
    args = parser.parse_args()
    params = variant_params(args.smoke, args.variant) | experiment_defaults(args.set) | overrides(args.set)
    if args.init:
        params["init"] = args.init
    torch.set_num_threads(params["threads"])
    summary = run(params, stage_cache_dir(args), Path(params["out"]), args.resume)
    if params.get("export") and not args.variant:
        export(Path(params["out"]), Path(params["export"]), summary, reports_dir(args.smoke, args.reports))
    print(json.dumps(summary["pairsDevTest"], indent=2))


if __name__ == "__main__":
    main()
