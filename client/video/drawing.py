"""Boxes and names drawn on a frame: green a name (or a match), red unknown (no match),
grey while the track's votes do not agree yet."""
from __future__ import annotations

from .tracking import TrackedFace

NAMED, UNKNOWN, PENDING = (40, 200, 80), (220, 50, 50), (160, 160, 160)
PENDING_TEXT = "..."


def caption(face: TrackedFace, unknown: str) -> str:
    label = face.label
    if not label.agreed:
        return f"#{face.track} {PENDING_TEXT}"
    score = "" if label.score is None else f" {label.score:.2f}"
    return f"#{face.track} {label.name or unknown}{score}"


def draw(frame, faces: list[TrackedFace], unknown: str = "unknown"):
    """The frame (HxWx3 RGB array) as a PIL image with each face boxed and captioned."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.fromarray(frame)
    pen = ImageDraw.Draw(image)
    size = max(12, image.height // 30)
    font = ImageFont.load_default(size=size)
    for face in faces:
        x, y, w, h = face.box
        color = PENDING if not face.label.agreed else NAMED if face.label.name else UNKNOWN
        pen.rectangle([x, y, x + w, y + h], outline=color, width=max(2, size // 6))
        text = caption(face, unknown)
        left, top, right, bottom = pen.textbbox((x, y), text, font=font)
        top_y = y - (bottom - top) - 6 if y - (bottom - top) - 6 >= 0 else y + h + 2
        pen.rectangle([x, top_y, x + (right - left) + 6, top_y + (bottom - top) + 6], fill=color)
        pen.text((x + 3, top_y + 3 - (top - y)), text, fill=(255, 255, 255), font=font)
    return image
