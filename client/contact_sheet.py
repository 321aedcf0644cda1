"""The contact sheet: a verify answer as one picture, for `make demo` (a PNG) and the web page.
The reference and every test photo with its faces boxed (`drawing.py`'s palette), a caption
per photo (verdict, score, the truth when known, or the photo's error) and a legend.

Drawn with Pillow (the `images` extra): a page answer must come in well under a second.
"""
from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from .drawing import FaceKind, FaceMark, box_outline, draw_faces, font, thumbnail
from .models import VerificationResult

TILE = 220  # photo area of a tile, pixels
CAPTION = 62  # caption height under each tile: 3 lines
GAP = 10
COLUMNS = 6
LEGEND = 64
BOX_WIDTH = 4
WRONG = "#ff7f0e"  # frame: the verdict differs from the truth (the sampled set's, or the user's marks)
ERROR_TEXT = FaceKind.NO_MATCH.color
ERROR_TILE = "#fbeaea"
TEXT = "#222222"
FONT = font(13)
BOLD = font(15)


def _fit(text: str, limit: int = 34) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def legend(draw: ImageDraw.ImageDraw, width: int, title: str, truth: str | None) -> None:
    draw.text((GAP, 8), title, fill=TEXT, font=BOLD)
    x, y = GAP, 36
    keys: list[tuple[FaceKind | None, str]] = [
        (FaceKind.REFERENCE, "reference face"), (FaceKind.MATCH, "match (best face)"),
        (FaceKind.NO_MATCH, "no match (best face)"), (FaceKind.OTHER, "other faces")]
    if truth:
        keys.append((None, f"verdict differs from {truth}"))  # None: the frame around a wrong tile
    for kind, text in keys:
        box = (x, y, x + 26, y + 16)
        if kind is None:
            draw.rectangle(box, outline=WRONG, width=5)
        else:
            box_outline(draw, box, kind, BOX_WIDTH)
        draw.text((x + 34, y), text, fill=TEXT, font=FONT)
        x += 34 + int(draw.textlength(text, font=FONT)) + 28


def contact_sheet(reference: str | Path, tests: Sequence[str | Path], result: VerificationResult,
                  labels: Sequence[str] | None = None, marked_same: set[int] | None = None,
                  columns: int = COLUMNS, title: str | None = None, truth: str = "your mark",
                  other_faces: bool = True) -> Image.Image:
    """One image: the reference, then each test photo in order. `marked_same` (0-based
    indices of the tests showing the reference person, `truth` says whose word that is)
    captions each verdict right or wrong and frames the wrong ones."""
    labels = list(labels) if labels is not None else [Path(t).name for t in tests]
    tiles = 1 + len(tests)
    columns = max(1, min(columns, tiles))
    rows = math.ceil(tiles / columns)
    width = GAP + columns * (TILE + GAP)
    sheet = Image.new("RGB", (max(width, 900), LEGEND + rows * (TILE + CAPTION + GAP) + GAP), "white")
    draw = ImageDraw.Draw(sheet)
    legend(draw, sheet.width, title or f"{result.model}    threshold {result.threshold:.4f}",
           truth if marked_same is not None else None)

    def origin(i: int) -> tuple[int, int]:
        return GAP + (i % columns) * (TILE + GAP), LEGEND + (i // columns) * (TILE + CAPTION + GAP)

    def paste(i: int, path) -> tuple[float, tuple[int, int]] | None:
        left, top = origin(i)
        try:
            photo, scale = thumbnail(path, TILE)
        except (OSError, ValueError, Image.DecompressionBombError):
            draw.rectangle((left, top, left + TILE, top + TILE), fill="#f2f2f2", outline="#cccccc")
            draw.text((left + 8, top + TILE // 2 - 8), "cannot be shown", fill=TEXT, font=FONT)
            return None
        offset = (left + (TILE - photo.width) // 2, top + (TILE - photo.height) // 2)
        sheet.paste(photo, offset)
        return scale, offset

    def caption(i: int, lines: list[tuple[str, str]]) -> None:
        left, top = origin(i)
        for k, (text, color) in enumerate(lines[:3]):
            draw.text((left, top + TILE + 4 + 17 * k), text, fill=color, font=FONT)

    def boxes(placed: tuple[float, tuple[int, int]], marks: list[FaceMark]) -> None:
        draw_faces(sheet, marks, scale=placed[0], offset=placed[1], width=BOX_WIDTH)

    placed = paste(0, reference)
    if placed:
        boxes(placed, [FaceMark(result.reference.box, FaceKind.REFERENCE)])
    caption(0, [("REFERENCE", FaceKind.REFERENCE.color), (_fit(Path(reference).name), TEXT)])

    for i, (path, item, label) in enumerate(zip(tests, result.results, labels, strict=False), start=1):
        left, top = origin(i)
        if item.error is not None:
            draw.rectangle((left, top, left + TILE, top + TILE), fill=ERROR_TILE, outline=ERROR_TEXT, width=2)
            wrapped = textwrap.wrap(f"{item.error.code}: {item.error.message}", 30)[:8]
            draw.multiline_text((left + 8, top + 8), "\n".join(wrapped), fill=ERROR_TEXT, font=FONT)
            caption(i, [(f"{i}. {_fit(label)}", TEXT), ("error: photo not used", ERROR_TEXT)])
            continue
        placed = paste(i, path)
        if placed:
            marks = [FaceMark(d.box, FaceKind.OTHER) for d in (item.detections if other_faces else [])
                     if item.box is None or tuple(d.box) != tuple(item.box)]
            if item.box is not None:
                marks.append(FaceMark(item.box, FaceKind.MATCH if item.match else FaceKind.NO_MATCH))
            boxes(placed, marks)
        score = "no face" if item.score is None else f"score {item.score:.3f}"
        verdict = "MATCH" if item.match else "no match"
        faces = f"{item.faces} face{'' if item.faces == 1 else 's'}"
        lines = [(f"{i}. {_fit(label)}", TEXT),
                 (f"{verdict}  {score}  ({faces})", FaceKind.MATCH.color if item.match else TEXT)]
        if marked_same is not None:
            same, right = (i - 1) in marked_same, bool(item.match) == ((i - 1) in marked_same)
            lines.append((f"{'same' if same else 'other'} person: {'right' if right else 'WRONG'}",
                          TEXT if right else WRONG))
            if not right:
                draw.rectangle((left - 3, top - 3, left + TILE + 3, top + TILE + 3), outline=WRONG, width=5)
        caption(i, lines)
    return sheet
