"""`make transfer-ablation`: where the served model's weights start, on both benchmarks.
(h) the pretrained SFace network alone, (i) SFace + ArcFace, (j) SFace + SimCLR + ArcFace
(`make finetune`'s run). (i) and (j) have the same fine-tuning budget, data and guards.
Finished runs are reused (delete their folder to rerun); (j) needs `make finetune` first.

The served model is chosen on validation people (the calibration people: true-match rate at
the calibrated threshold), never on the test pairs: the user's SFace + SimCLR + ArcFace
shape stays served unless another variant beats it there by more than one standard error.

    python -m finetune.transfer_ablation [--smoke] [--cache-dir C] [--reports R]

Writes reports/transfer_ablation.json and reports/transfer_ablation.md.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from evaluation.metrics import evaluate, write_json
from finetune.train import run, variant_params
from model.embedder import FaceEmbedder
from model.sface_convert import convert
from training.outputs import cache_dir as stage_cache_dir
from training.outputs import reports_dir, stage_arguments
from training.params import load_params

LABELS = {"sface_alone": "(h) SFace alone", "sface_arcface": "(i) SFace + ArcFace",
          "sface_simclr_arcface": "(j) SFace + SimCLR + ArcFace"}


def row(metrics: dict, minutes: float, epochs: float) -> dict:
    heldout = metrics.get("heldout_celeba", {})
    return {"validation_tar_at_threshold": metrics["calibration"]["tar"],
            "lfw_accuracy": metrics["accuracy"], "lfw_accuracy_protocol": metrics["accuracy_protocol_threshold"],
            "lfw_auc": metrics["roc_auc"], "lfw_tar_far_1pct": metrics["tar_at_far_1pct"],
            "lfw_tar_far_0.1pct": metrics["tar_at_far_0.1pct"], "threshold": metrics["threshold"],
            "celeba_accuracy": heldout.get("pairs", {}).get("accuracy"),
            "celeba_auc": heldout.get("pairs", {}).get("roc_auc"),
            "trials_pass": heldout.get("trials_plain", {}).get("pass_rate"),
            "trials_perfect": heldout.get("trials_plain", {}).get("perfect_rate"),
            "composited_pass": heldout.get("trials_composited", {}).get("pass_rate"),
            "composited_perfect": heldout.get("trials_composited", {}).get("perfect_rate"),
            "minutes": minutes, "epochs": epochs}


def main() -> None:
    args = stage_arguments(__doc__.splitlines()[0]).parse_args()
    cache_dir = stage_cache_dir(args)
    served = load_params("finetune", args.smoke)
    torch.set_num_threads(served["threads"])
    ablations = load_params("transfer_ablations", args.smoke)
    alone = Path(ablations["out"]) / "sface_alone" / "metrics.json"
    if not alone.exists():
        write_json(alone, evaluate(FaceEmbedder(convert(), flip=served["flip"]), cache_dir, far=served["target_far"]))
    rows = {"sface_alone": row(json.loads(alone.read_text()), 0, 0)}
    for variant in ablations["variants"]:
        params = variant_params(args.smoke, variant)
        summary_file = Path(params["out"]) / "summary.json"
        summary = (json.loads(summary_file.read_text()) if summary_file.exists()
                   else run(params, cache_dir, Path(params["out"])))
        rows[variant] = row(summary["pairsDevTest"], round(summary["run"]["seconds"] / 60, 1), summary["run"]["epochs"])
    finetuned = json.loads((Path(served["out"]) / "summary.json").read_text())
    rows["sface_simclr_arcface"] = row(finetuned["pairsDevTest"], round(finetuned["run"]["seconds"] / 60, 1),
                                       finetuned["run"]["epochs"])
    genuine = finetuned["pairsDevTest"]["calibration"]["genuine_pairs"]
    tar = rows["sface_simclr_arcface"]["validation_tar_at_threshold"]
    standard_error = (tar * (1 - tar) / max(1, genuine)) ** 0.5
    best = max(rows, key=lambda name: rows[name]["validation_tar_at_threshold"])
    chosen = best if rows[best]["validation_tar_at_threshold"] - tar > standard_error else "sface_simclr_arcface"
    reports = reports_dir(args.smoke, args.reports)
    write_json(reports / "transfer_ablation.json", {"results": rows, "chosen_on_validation": chosen,
                                                     "validation_standard_error": standard_error,
                                                     "command": "make transfer-ablation"})
    def pct(v):
        return "-" if v is None else f"{100 * v:.1f}%"
    lines = ["Validation: true-match rate of the calibration people at their own false-match-rate threshold "
             f"({served['target_far']:g}). Test: LFW pairsDevTest (serving threshold / pairsDevTrain threshold) "
             "and the held-out CelebA people (pairs; 1 + 15 trials passed / perfect, plain and composited).", "",
             "| variant | validation TAR | LFW acc (served / protocol) | LFW AUC | TAR@FAR 0.1% "
             "| CelebA acc | CelebA AUC "
             "| trials pass / perfect | composited pass / perfect | threshold | minutes |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in rows.items():
        chosen_mark = " (chosen)" if name == chosen else ""
        lines.append(f"| {LABELS[name]}{chosen_mark} | {pct(r['validation_tar_at_threshold'])} "
                     f"| {pct(r['lfw_accuracy'])} / {pct(r['lfw_accuracy_protocol'])} | {r['lfw_auc']:.4f} "
                     f"| {pct(r['lfw_tar_far_0.1pct'])} | {pct(r['celeba_accuracy'])} | "
                     f"{'-' if r['celeba_auc'] is None else format(r['celeba_auc'], '.4f')} "
                     f"| {pct(r['trials_pass'])} / {pct(r['trials_perfect'])} | {pct(r['composited_pass'])} / "
                     f"{pct(r['composited_perfect'])} | {r['threshold']:.3f} | {r['minutes']} |")
    (reports / "transfer_ablation.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
