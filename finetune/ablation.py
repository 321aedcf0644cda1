"""`make ablation`: the same data, budget and evaluation for each variant:
(a) SimCLR + ArcFace, (b) ArcFace from random init, (c) SimCLR + softmax cross-entropy,
(d) SimCLR only (no fine-tuning), and what the data choices add: (e) without the CelebA
identities, (f) with the one-photo people as classes, (g) with colour augmentation.
Finished variants are reused (delete their folder to rerun).

    python -m finetune.ablation [--smoke] [--cache-dir C] [--reports R]

Writes reports/ablation.json, reports/ablation.md and reports/ablation_roc.png.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from evaluation.metrics import evaluate, plot_roc, write_json
from evaluation.predictions import read_predictions
from finetune.train import run, variant_params
from model.embedder import FaceEmbedder, load_backbone
from training.outputs import cache_dir as stage_cache_dir
from training.outputs import reports_dir, stage_arguments
from training.params import load_params

LABELS = {
    "simclr_arcface": "(a) SimCLR + ArcFace",
    "random_arcface": "(b) ArcFace, random init",
    "simclr_softmax": "(c) SimCLR + softmax CE",
    "simclr_only": "(d) SimCLR only",
    "lfw_people_only": "(e) as (a), LFW identities only (no CelebA)",
    "one_photo_people": "(f) as (a) + the one-photo people as classes",
    "colour_augment": "(g) as (a) + colour jitter and grey crops",
}


def main() -> None:
    args = stage_arguments(__doc__.splitlines()[0]).parse_args()
    ablations = load_params("ablations", args.smoke)
    cache_dir = stage_cache_dir(args)
    rows, curves = {}, {}
    for variant in ablations["variants"]:
        params = variant_params(args.smoke, variant)
        torch.set_num_threads(params["threads"])
        out = Path(params["out"])
        summary_file = out / "summary.json"
        summary = json.loads(summary_file.read_text()) if summary_file.exists() else run(params, cache_dir, out)
        rows[variant] = summary["pairsDevTest"] | {"minutes": round(summary["run"]["seconds"] / 60, 1),
                                                   "epochs": summary["run"]["epochs"]}
        curves[LABELS[variant]] = read_predictions(out / "finetune_pairs.csv")

    params = load_params("finetune", args.smoke) | ablations.get("base", {})
    out = Path(ablations["out"]) / "simclr_only"
    backbone, meta = load_backbone(params["pretrained"])
    rows["simclr_only"] = evaluate(FaceEmbedder(backbone, flip=params["flip"]), cache_dir, out_dir=out, name="finetune",
                                   far=params["target_far"]) | {
        "minutes": round(meta.get("seconds", 0) / 60, 1), "epochs": 0}
    curves[LABELS["simclr_only"]] = read_predictions(out / "finetune_pairs.csv")

    rows = dict(sorted(rows.items(), key=lambda item: LABELS[item[0]]))  # table in (a)..(g) order
    reports = reports_dir(args.smoke, args.reports)
    budget = ablations["budget"]
    write_json(reports / "ablation.json", {"budget": budget, "results": rows, "command": "make ablation"})
    plot_roc(curves, reports / "ablation_roc.png")
    far = load_params("finetune", args.smoke)["target_far"]
    lines = [f"Budget per fine-tuned variant: {budget.get('epochs')} epochs "
             f"(a {budget.get('max_minutes')} min safety stop), "
             f"same data and seed. pairsDevTest with flip fusion; accuracy at the serving rule's threshold "
             f"(false-match "
             f"rate {far:g} on the held-out calibration people), strict for these from-scratch models: ROC AUC and "
             "EER compare them independently of any threshold.", "",
             "| variant | accuracy | ROC AUC | TAR @ FAR 1% | EER | epochs | minutes (2 CPU cores) |",
             "|---|---|---|---|---|---|---|"]
    for variant, m in rows.items():
        lines.append(f"| {LABELS[variant]} | {m['accuracy']:.3f} | {m['roc_auc']:.4f} | {m['tar_at_far_1pct']:.3f} "
                     f"| {m['eer']:.3f} | {m['epochs']} | {m['minutes']} |")
    (reports / "ablation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
