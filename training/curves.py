"""Training curves as PNG."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def plot_curves(path: str | Path, series: dict[str, list[tuple[float, float]]], title: str,
                xlabel: str = "step", smooth: int = 20) -> None:
    """series: label -> [(x, y), ...]; each drawn raw (faint) and as a running mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(series), figsize=(5 * len(series), 3.6), squeeze=False)
    for ax, (label, points) in zip(axes[0], series.items(), strict=False):
        if not points:
            continue
        x, y = np.array(points, dtype=float).T
        ax.plot(x, y, alpha=0.3, color="tab:blue")
        if len(y) > smooth:
            kernel = np.ones(smooth) / smooth
            ax.plot(x[smooth - 1 :], np.convolve(y, kernel, mode="valid"), color="tab:blue")
        ax.set(xlabel=xlabel, ylabel=label, title=label)
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
