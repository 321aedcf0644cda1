"""Plot data for `dvc plots show`: the curves and ROC of the committed run as small CSV files
in reports/plots/ (the training stages write PNGs and JSON shapes DVC cannot plot).

    python -m report.plot_data [--smoke] [--reports R]

pretrain_loss.csv   step, loss, lr               from <pretrain.out>/checkpoint.pt (its history)
finetune_loss.csv   step, loss, batch_accuracy   from <finetune.out>/history.json
roc.csv             false_accept_rate, true_accept_rate, threshold   from R/pairs_predictions.csv
ablation_roc.csv    false_accept_rate, one true-accept-rate column per variant (a common grid)
                    from <ablations.out>/<variant>/finetune_pairs.csv

A missing source is skipped and its CSV left as it is (a fresh clone has no runs/).
`make report` and the dvc `report` stage run this before report.report.
"""
from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from evaluation.predictions import read_predictions
from training.outputs import reports_dir, stage_arguments
from training.params import load_params

ABLATION_EXTRA = ["simclr_only"]  # finetune.ablation evaluates the SimCLR backbone as a 4th row
FAR_GRID = np.unique(np.concatenate([np.linspace(0, 1, 201), [0.001, 0.002, 0.005, 0.01, 0.02]]))


def write_csv(path: Path, header: list[str], rows) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def roc(scores: np.ndarray, same: np.ndarray):
    from sklearn.metrics import roc_curve

    return roc_curve(same, scores)


def pretrain_history(checkpoint: Path) -> list[tuple]:
    import torch

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)  # our own file: RNG state inside
    return [tuple(row) for row in state["history"]]


def export(reports: Path, smoke: bool = False) -> dict[str, str]:
    """Writes what it can; returns {csv name: 'written' | 'skipped: <why>'}."""
    plots, done = reports / "plots", {}

    checkpoint = Path(load_params("pretrain", smoke)["out"]) / "checkpoint.pt"
    if checkpoint.exists():
        write_csv(plots / "pretrain_loss.csv", ["step", "loss", "lr"],
                  [(int(s), f"{loss:.5f}", f"{lr:.6g}") for s, loss, lr in pretrain_history(checkpoint)])
        done["pretrain_loss.csv"] = "written"
    else:
        done["pretrain_loss.csv"] = f"skipped: no {checkpoint}"

    history = Path(load_params("finetune", smoke)["out"]) / "history.json"
    if history.exists():
        write_csv(plots / "finetune_loss.csv", ["step", "loss", "batch_accuracy"],
                  [(int(s), f"{loss:.5f}", f"{acc:.4f}") for s, loss, acc in json.loads(history.read_text())])
        done["finetune_loss.csv"] = "written"
    else:
        done["finetune_loss.csv"] = f"skipped: no {history}"

    predictions = reports / "pairs_predictions.csv"
    if predictions.exists():
        far, tar, thresholds = roc(*read_predictions(predictions))
        thresholds = np.minimum(thresholds, 1.0)  # sklearn's first threshold is +inf
        write_csv(plots / "roc.csv", ["false_accept_rate", "true_accept_rate", "threshold"],
                  [(f"{f:.5f}", f"{t:.5f}", f"{th:.5f}") for f, t, th in zip(far, tar, thresholds, strict=False)])
        done["roc.csv"] = "written"
    else:
        done["roc.csv"] = f"skipped: no {predictions}"

    ablations = load_params("ablations", smoke)
    variants = list(ablations["variants"]) + ABLATION_EXTRA
    files = {v: Path(ablations["out"]) / v / "finetune_pairs.csv" for v in variants}
    missing = [str(f) for f in files.values() if not f.exists()]
    if not missing:
        columns = []
        for file in files.values():
            far, tar, _ = roc(*read_predictions(file))
            columns.append(np.interp(FAR_GRID, far, tar))
        write_csv(plots / "ablation_roc.csv", ["false_accept_rate", *variants],
                  [(f"{x:.4f}", *(f"{c[i]:.5f}" for c in columns)) for i, x in enumerate(FAR_GRID)])
        done["ablation_roc.csv"] = "written"
    else:
        done["ablation_roc.csv"] = f"skipped: no {', '.join(missing)}"
    return done


def main() -> None:
    parser = stage_arguments(__doc__.splitlines()[0])
    args = parser.parse_args()
    reports = reports_dir(args.smoke, args.reports)
    for name, what in export(reports, args.smoke).items():
        print(f"{reports / 'plots' / name}: {what}")


if __name__ == "__main__":
    main()
