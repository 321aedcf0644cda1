"""Contact sheet: the reference and every test photo with its face boxes, score and verdict."""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.patches import Patch, Rectangle  # noqa: E402
from PIL import Image, ImageOps  # noqa: E402

from client.models import Box, VerificationResult  # noqa: E402
from demo.sampling import DemoSet  # noqa: E402

GREEN, RED, BLUE, NEUTRAL, ORANGE = "#1a9c3a", "#d62728", "#1f5fbf", "#333333", "#ff7f0e"
HEADER_INCHES = 1.1  # title + legend above the grid, kept clear of the first row's captions


def load_rgb(path: str | Path) -> np.ndarray:
    """The photo as the server sees it (EXIF rotation applied), RGB."""
    with Image.open(path) as image:
        return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))


def _draw_box(ax, box: Box, color: str, width: float, style: str = "-") -> None:
    x, y, w, h = box
    ax.add_patch(Rectangle((x, y), w, h, fill=False, edgecolor=color, linewidth=width, linestyle=style))


def _label(path: Path, limit: int = 28) -> str:
    name = path.name
    return name if len(name) <= limit else name[: limit - 3] + "..."


def contact_sheet(demo_set: DemoSet, result: VerificationResult, out: str | Path,
                  all_boxes: Sequence[Sequence[Box] | None] | None = None,
                  title: str | None = None, columns: int = 4) -> Path:
    """Write a PNG grid. `all_boxes[i]`: every face found in test i (from `embed`), drawn
    thin and dashed; the best-matching face is drawn thick, green for a match, red if not."""
    tiles = 1 + len(demo_set.tests)
    columns = min(columns, tiles)
    rows = math.ceil(tiles / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.3 * columns, 3.9 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")

    ax = axes.flat[0]
    ax.imshow(load_rgb(demo_set.reference))
    _draw_box(ax, result.reference.box, BLUE, 3.0)
    who = f"\n{demo_set.reference_person}" if demo_set.reference_person else ""
    ax.set_title(f"REFERENCE{who}\n{_label(demo_set.reference)}", fontsize=9, color=BLUE, fontweight="bold")

    for i, (test, item) in enumerate(zip(demo_set.tests, result.results)):
        ax = axes.flat[i + 1]
        if item.error is not None:  # the server could not use this photo
            ax.set_title(f"{item.name}: {_label(test.path)}\nERROR {item.error.code}", fontsize=8, color=RED)
            continue
        ax.imshow(load_rgb(test.path))
        box_color = GREEN if item.match else RED
        for box in (all_boxes[i] if all_boxes and all_boxes[i] else []):
            _draw_box(ax, box, "yellow", 1.2, "--")
        if item.box is not None:
            _draw_box(ax, item.box, box_color, 3.5)
        score = "no face" if item.score is None else f"score {item.score:.3f}"
        verdict = "MATCH" if item.match else "no match"
        lines = [f"{item.name}: {_label(test.path)}", f"{score} -> {verdict}  ({item.faces} face"
                 f"{'' if item.faces == 1 else 's'})"]
        caption = box_color  # without truth: the verdict's colour
        if test.same is not None:
            correct = item.match == test.same
            lines.append(f"truth: {'same' if test.same else 'different'} - {'correct' if correct else 'WRONG'}")
            # with truth the caption says right or wrong: a correct rejection is no alarm
            caption = (GREEN if item.match else NEUTRAL) if correct else RED
        ax.set_title("\n".join(lines), fontsize=8, color=caption, fontweight="bold" if item.match else "normal")
        if test.same is not None and item.match != test.same:
            for spine in ax.spines.values():  # frame the wrong verdicts
                spine.set_visible(True)
                spine.set_edgecolor(ORANGE)
                spine.set_linewidth(5)
            ax.axis("on")
            ax.set_xticks([])
            ax.set_yticks([])

    height = fig.get_figheight()
    top = 1 - HEADER_INCHES / height
    fig.suptitle(title or f"{result.model}   threshold {result.threshold:.4f}", fontsize=11,
                 y=1 - 0.15 / height, va="top")
    fig.legend(handles=_legend(demo_set.has_truth), loc="upper center", ncol=3, fontsize=8, frameon=False,
               bbox_to_anchor=(0.5, 1 - 0.45 / height))
    fig.tight_layout(rect=(0, 0, 1, top))
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=90)
    plt.close(fig)
    return out


def _legend(has_truth: bool) -> list:
    handles = [Line2D([], [], color=BLUE, lw=3, label="reference face"),
               Line2D([], [], color=GREEN, lw=3.5, label="best face: match (score >= threshold)"),
               Line2D([], [], color=RED, lw=3.5, label="best face: no match"),
               Line2D([], [], color="yellow", lw=1.2, ls="--", label="every other face found")]
    if has_truth:
        handles += [Patch(facecolor="none", edgecolor=ORANGE, lw=3, label="wrong verdict (frame, red caption)"),
                    Line2D([], [], color=NEUTRAL, lw=0, marker="s", label="caption: correct rejection")]
    return handles
