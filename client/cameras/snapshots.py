"""Unknown faces' crops, when asked for (`--snapshots DIR`): the face's box (with a margin)
as a JPEG, in a folder that keeps only the newest `max_files`. Whole frames are never written."""
from __future__ import annotations

import os
from pathlib import Path

MARGIN = 0.25  # of the box's size, on each side: the whole head, not only the face


class SnapshotFolder:
    """max_files: the oldest crops are deleted beyond this many. margin: the share of the
    box added on each side."""

    def __init__(self, folder: str | os.PathLike, max_files: int = 100, margin: float = MARGIN) -> None:
        if max_files < 1:
            raise ValueError(f"max_files must be >= 1, not {max_files}")
        self.folder, self.max_files, self.margin = Path(folder), max_files, margin
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def save(self, camera: str, track: int, t: float, frame, box) -> Path:
        from PIL import Image

        height, width = frame.shape[:2]
        x, y, w, h = box
        x0, y0 = max(0, int(x - self.margin * w)), max(0, int(y - self.margin * h))
        x1, y1 = min(width, int(x + w + self.margin * w)), min(height, int(y + h + self.margin * h))
        path = self.folder / f"{camera}-{t:.3f}-track{track}.jpg"
        Image.fromarray(frame[y0:y1, x0:x1]).save(path, format="JPEG", quality=90)
        path.chmod(0o600)
        self._prune()
        return path

    def _prune(self) -> None:
        crops = sorted(self.folder.glob("*.jpg"), key=lambda p: p.stat().st_mtime_ns)
        for old in crops[: max(0, len(crops) - self.max_files)]:
            old.unlink(missing_ok=True)
