"""Face boxes drawn on pictures, with one palette for every picture the project makes: the
verify contact sheet (`contact_sheet.py`), the page's labelled photos and the annotated
video and camera frames (`video/drawing.py`).

Green: a match, or a face named from the gallery; red: no match, or an unknown face; grey:
a face without a verdict (dashed: another face of a test photo; solid: a tracked face whose
look-ups do not agree yet); blue: the reference photo's face.

Needs Pillow (the `images` or `video` extra).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from .models import Box

WHITE = "#ffffff"


class FaceKind(Enum):
    """What a box says about its face: its colour and whether it is dashed."""

    MATCH = ("#1a9c3a", False)
    NO_MATCH = ("#d62728", False)
    PENDING = ("#9a9a9a", False)
    OTHER = ("#9a9a9a", True)
    REFERENCE = ("#1f5fbf", False)

    @property
    def color(self) -> str:
        return self.value[0]

    @property
    def dashed(self) -> bool:
        return self.value[1]


@dataclass(frozen=True)
class FaceMark:
    """One face to draw: its box in the photo's pixels ([x, y, w, h]), its kind, and the
    text written on a tab of the box's colour (None: the box alone)."""

    box: Box
    kind: FaceKind
    label: str | None = None


def font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def dashed_rectangle(pen: ImageDraw.ImageDraw, xy: Sequence[float], color: str, width: int = 2,
                     dash: int = 6) -> None:
    x0, y0, x1, y1 = xy
    corners = [(x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)]
    for (ax, ay), (bx, by) in zip(corners, corners[1:], strict=False):
        length = math.dist((ax, ay), (bx, by))
        position = 0.0
        while position < length:
            t0, t1 = position / length, min(position + dash, length) / length
            pen.line([(ax + (bx - ax) * t0, ay + (by - ay) * t0), (ax + (bx - ax) * t1, ay + (by - ay) * t1)],
                     fill=color, width=width)
            position += 2 * dash


def box_outline(pen: ImageDraw.ImageDraw, xy: Sequence[float], kind: FaceKind, width: int) -> None:
    """The box alone (also the legend's swatches). Dashed boxes are drawn at half width:
    they are the faces the verdict is not about."""
    if kind.dashed:
        dashed_rectangle(pen, xy, kind.color, max(1, width // 2), dash=max(4, 2 * width))
    else:
        pen.rectangle(tuple(xy), outline=kind.color, width=width)


def draw_faces(image: Image.Image, marks: Sequence[FaceMark], *, scale: float = 1.0,
               offset: tuple[float, float] = (0, 0), width: int | None = None,
               font_size: int | None = None) -> Image.Image:
    """Each mark drawn on `image` (in place; returned too). `scale` and `offset` map the
    photo's pixels to the image's (a thumbnail, a tile of a sheet); `font_size` defaults to
    1/30 of the image's height (at least 12), `width` to a sixth of it (at least 2)."""
    pen = ImageDraw.Draw(image)
    size = font_size or max(12, image.height // 30)
    width = width or max(2, size // 6)
    text_font = font(size)
    for mark in marks:
        x, y, w, h = mark.box
        x0, y0 = offset[0] + x * scale, offset[1] + y * scale
        x1, y1 = offset[0] + (x + w) * scale, offset[1] + (y + h) * scale
        box_outline(pen, (x0, y0, x1, y1), mark.kind, width)
        if mark.label:
            left, top, right, bottom = pen.textbbox((0, 0), mark.label, font=text_font)
            tab_h = bottom - top + 6
            tab_y = y0 - tab_h if y0 - tab_h >= 0 else y1  # above the box, below it at the top edge
            pen.rectangle((x0, tab_y, x0 + (right - left) + 6, tab_y + tab_h), fill=mark.kind.color)
            pen.text((x0 + 3 - left, tab_y + 3 - top), mark.label, fill=WHITE, font=text_font)
    return image


def thumbnail(path: str | Path, size: int) -> tuple[Image.Image, float]:
    """The photo as the server sees it (EXIF rotation applied), fitted into size x size,
    and the factor from the photo's pixels to the thumbnail's. JPEGs are decoded at reduced
    size (`draft`): a page answer must come in well under a second."""
    with Image.open(path) as image:
        full = max(image.size)
        image.draft("RGB", (size, size))  # JPEG: decode at 1/2 .. 1/8 size
        small = ImageOps.exif_transpose(image).convert("RGB")
    scale = max(small.size) / full
    fit = min(size / small.width, size / small.height, 1.0 / scale if scale else 1.0)
    fitted = (max(1, round(small.width * fit)), max(1, round(small.height * fit)))
    return small.resize(fitted, Image.Resampling.LANCZOS), scale * fit


def labelled_photo(path: str | Path, marks: Sequence[FaceMark], size: int = 720,
                   font_size: int = 15, width: int = 3) -> Image.Image:
    """The photo fitted into size x size with its faces drawn."""
    photo, scale = thumbnail(path, size)
    return draw_faces(photo, marks, scale=scale, width=width, font_size=font_size)
