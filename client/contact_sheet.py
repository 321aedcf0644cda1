"""The contact sheet, one renderer for `make demo` (a PNG) and the web page: the reference and
every test photo with its faces boxed, a caption per photo (verdict, score, the truth when
known, or the photo's error) and a legend.

Drawn with Pillow: a page answer must come in well under a second, and JPEG photos are
decoded at reduced size (`draft`) since a tile is small.
"""
from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from client.models import Box, VerificationResult

GREEN, RED, BLUE = "#1a9c3a", "#d62728", "#1f5fbf"

TILE = 220  # photo area of a tile, pixels
CAPTION = 62  # caption height under each tile: 3 lines
GAP = 10
COLUMNS = 6
LEGEND = 64
OTHER = "#e0b000"  # dashed: the other faces of a test photo
WRONG = "#ff7f0e"  # frame: the verdict differs from the truth (the sampled set's, or the user's marks)
ERROR_TEXT = RED
TEXT = "#222222"
FONT = ImageFont.load_default(size=13)
BOLD = ImageFont.load_default(size=15)


def thumbnail(path: str | Path, size: int = TILE) -> tuple[Image.Image, float]:
    """The photo as the server sees it (EXIF rotation applied), fitted into size x size,
    and the factor from the photo's pixels to the thumbnail's."""
    with Image.open(path) as image:
        full = max(image.size)
        image.draft("RGB", (size, size))  # JPEG: decode at 1/2 .. 1/8 size
        small = ImageOps.exif_transpose(image).convert("RGB")
    scale = max(small.size) / full
    fit = min(size / small.width, size / small.height, 1.0 / scale if scale else 1.0)
    size = (max(1, round(small.width * fit)), max(1, round(small.height * fit)))
    return small.resize(size, Image.Resampling.LANCZOS), scale * fit


def dashed_rectangle(draw: ImageDraw.ImageDraw, xy: Sequence[float], color: str, width: int = 2,
                     dash: int = 6) -> None:
    x0, y0, x1, y1 = xy
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    for (ax, ay), (bx, by) in zip(corners, corners[1:], strict=False):
        length = math.dist((ax, ay), (bx, by))
        position = 0.0
        while position < length:
            t0, t1 = position / length, min(position + dash, length) / length
            draw.line([(ax + (bx - ax) * t0, ay + (by - ay) * t0), (ax + (bx - ax) * t1, ay + (by - ay) * t1)],
                      fill=color, width=width)
            position += 2 * dash


def scaled_box(box: Box, scale: float, offset: tuple[int, int]) -> tuple[float, float, float, float]:
    x, y, w, h = box
    return (offset[0] + x * scale, offset[1] + y * scale, offset[0] + (x + w) * scale,
            offset[1] + (y + h) * scale)


def _fit(text: str, limit: int = 34) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def legend(draw: ImageDraw.ImageDraw, width: int, title: str, truth: str | None) -> None:
    draw.text((GAP, 8), title, fill=TEXT, font=BOLD)
    x, y = GAP, 36
    keys = [(BLUE, "solid", "reference face"), (GREEN, "solid", "match (best face)"),
            (RED, "solid", "no match (best face)"), (OTHER, "dashed", "other faces")]
    if truth:
        keys.append((WRONG, "frame", f"verdict differs from {truth}"))
    for color, style, text in keys:
        box = (x, y, x + 26, y + 16)
        if style == "dashed":
            dashed_rectangle(draw, box, color, 2, 4)
        else:
            draw.rectangle(box, outline=color, width=3 if style == "solid" else 5)
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
            photo, scale = thumbnail(path)
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

    placed = paste(0, reference)
    if placed:
        draw.rectangle(scaled_box(result.reference.box, *placed), outline=BLUE, width=3)
    caption(0, [("REFERENCE", BLUE), (_fit(Path(reference).name), TEXT)])

    for i, (path, item, label) in enumerate(zip(tests, result.results, labels, strict=False), start=1):
        left, top = origin(i)
        if item.error is not None:
            draw.rectangle((left, top, left + TILE, top + TILE), fill="#fbeaea", outline=RED, width=2)
            wrapped = textwrap.wrap(f"{item.error.code}: {item.error.message}", 30)[:8]
            draw.multiline_text((left + 8, top + 8), "\n".join(wrapped), fill=ERROR_TEXT, font=FONT)
            caption(i, [(f"{i}. {_fit(label)}", TEXT), ("error: photo not used", ERROR_TEXT)])
            continue
        placed = paste(i, path)
        if placed:
            for detection in item.detections if other_faces else []:
                if item.box is None or tuple(detection.box) != tuple(item.box):
                    dashed_rectangle(draw, scaled_box(detection.box, *placed), OTHER, 2)
            if item.box is not None:
                draw.rectangle(scaled_box(item.box, *placed), outline=GREEN if item.match else RED, width=4)
        score = "no face" if item.score is None else f"score {item.score:.3f}"
        verdict = "MATCH" if item.match else "no match"
        faces = f"{item.faces} face{'' if item.faces == 1 else 's'}"
        lines = [(f"{i}. {_fit(label)}", TEXT), (f"{verdict}  {score}  ({faces})", GREEN if item.match else TEXT)]
        if marked_same is not None:
            same, right = (i - 1) in marked_same, bool(item.match) == ((i - 1) in marked_same)
            lines.append((f"{'same' if same else 'other'} person: {'right' if right else 'WRONG'}", TEXT if right else WRONG))
            if not right:
                draw.rectangle((left - 3, top - 3, left + TILE + 3, top + TILE + 3), outline=WRONG, width=5)
        caption(i, lines)
    return sheet
