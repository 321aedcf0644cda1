"""What the sub-commands share: photo expansion, the progress bar, the client from the common
options, JSON output."""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from ..client import FaceClient
from ..errors import PhotoInputError
from ..photos import PHOTO_SUFFIXES


def expand_photos(paths: list[str]) -> list[Path]:
    """Files as given; a folder stands for its photos (sorted by name)."""
    photos: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.is_file() and p.suffix.lower() in PHOTO_SUFFIXES)
            if not found:
                raise PhotoInputError(f"no photos ({', '.join(sorted(PHOTO_SUFFIXES))}) in folder {item}",
                                      code="empty_folder")
            photos.extend(found)
        else:
            photos.append(item)
    return photos


class Progress:
    """A one-line progress bar on stderr for runs of more than one request (a line per
    request when stderr is not a terminal)."""

    def __init__(self, what: str, stream=None, min_total: int = 0) -> None:
        self.what, self.stream, self.min_total = what, stream or sys.stderr, min_total
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.shown = False

    def __call__(self, done: int, total: int) -> None:
        if total <= self.min_total or (done == total and not self.shown):
            return  # short runs: no bar
        self.shown = True
        if self.tty:
            filled = int(30 * done / total)
            self.stream.write(f"\r{self.what} [{'#' * filled}{'.' * (30 - filled)}] {done}/{total}")
            if done == total:
                self.stream.write("\n")
        else:
            self.stream.write(f"{self.what}: {done}/{total}\n")
        self.stream.flush()


def compact_json(payload: dict) -> str:
    """Indented JSON with each list of numbers (boxes, embeddings) on one line."""
    text = json.dumps(payload, indent=2)
    return re.sub(r"\[\s+([-+0-9.eE,\s]+?)\s+\]", lambda m: "[" + " ".join(m.group(1).split()) + "]", text)


def make_client(args: argparse.Namespace) -> FaceClient:
    return FaceClient(base_url=args.url, token=args.token, timeout=args.timeout,
                      retries=args.retries, key_file=args.key_file,
                      threshold_file=getattr(args, "threshold_file", None))


def write_json(target: str, payload: dict) -> None:
    text = compact_json(payload)
    if target == "-":
        print(text)
        return
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    print(f"wrote {path}", file=sys.stderr)
