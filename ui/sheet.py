"""The page's labelled photo (the identify tab): each face boxed and named. The contact sheet
is demo/sheet.py's, shared with `make demo`."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from client import Box
from demo.sheet import BOLD, GREEN, RED, scaled_box, thumbnail


def labelled_faces(path: str | Path, faces: Sequence[tuple[Box, str, bool]], size: int = 720) -> Image.Image:
    """The photo with each face boxed and labelled: (box, label, known). Known people in
    green, unknown faces in red."""
    photo, scale = thumbnail(path, size)
    draw = ImageDraw.Draw(photo)
    for box, label, known in faces:
        color = GREEN if known else RED
        x0, y0, x1, y1 = scaled_box(box, scale, (0, 0))
        draw.rectangle((x0, y0, x1, y1), outline=color, width=3)
        width = draw.textlength(label, font=BOLD)
        top = y0 - 20 if y0 >= 20 else y1
        draw.rectangle((x0, top, x0 + width + 8, top + 20), fill=color)
        draw.text((x0 + 4, top + 2), label, fill="white", font=BOLD)
    return photo
