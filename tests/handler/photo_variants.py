"""Photos the bad-input battery sends (tests/handler/test_bad_inputs.py in process,
tests/handler/test_hardening_server.py over HTTP): every colour mode, EXIF orientations,
tiny photos, bomb headers. Helpers only: no tests in here."""
from __future__ import annotations

import io
import struct

import numpy as np
from PIL import Image

ORIENTATIONS = {  # EXIF orientation -> what PIL's exif_transpose applies to display it
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_INVERSE = {  # the transform that stores an upright photo so that orientation N shows it upright
    Image.Transpose.ROTATE_90: Image.Transpose.ROTATE_270,
    Image.Transpose.ROTATE_270: Image.Transpose.ROTATE_90,
}


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def rgb_image(bgr: np.ndarray) -> Image.Image:
    return Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1]))


def stored_with_orientation(upright: Image.Image, orientation: int, fmt: str = "PNG") -> bytes:
    """What a phone writes: the sensor's pixels plus the EXIF tag that says how to turn them."""
    display = ORIENTATIONS[orientation]
    pixels = upright.transpose(_INVERSE.get(display, display))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(pixels, fmt, exif=exif.tobytes(), **({"quality": 95} if fmt == "JPEG" else {}))


def mode_variants(upright: Image.Image) -> dict[str, bytes]:
    """The photo in every colour mode a phone, scanner or editor writes."""
    gray = upright.convert("L")
    gray16 = Image.fromarray(np.asarray(gray, dtype=np.uint16) * 257)  # 16-bit grayscale
    rgba = upright.convert("RGBA")
    alpha = np.full(rgba.size[::-1], 255, dtype=np.uint8)
    alpha[:, :60] = 0  # a transparent strip at the left edge, away from the face
    rgba.putalpha(Image.fromarray(alpha))
    return {
        "cmyk_jpeg": encode(upright.convert("CMYK"), "JPEG", quality=95),
        "gray_png": encode(gray, "PNG"),
        "gray_jpeg": encode(gray, "JPEG", quality=95),
        "gray16_png": encode(gray16, "PNG"),
        "rgba_png": encode(rgba, "PNG"),
        "gray_alpha_png": encode(gray.convert("LA"), "PNG"),
        "palette_png": encode(upright.convert("P", palette=Image.Palette.ADAPTIVE), "PNG"),
        "rgb_webp": encode(upright, "WEBP", quality=95),
        "rgb_tiff": encode(upright, "TIFF"),
        "rgb_bmp": encode(upright, "BMP"),
    }


def tiny(side: int, fmt: str = "PNG") -> bytes:
    return encode(Image.new("RGB", (side, side), (128, 90, 70)), fmt)


def jpeg_with_size(width: int, height: int) -> bytes:
    """A real 16x16 JPEG whose frame header (SOF0) claims width x height; JPEG's fields are
    16 bit, so 65535 x 65535 is the largest it can declare."""
    data = bytearray(encode(Image.new("RGB", (16, 16)), "JPEG"))
    sof = data.find(b"\xff\xc0")
    assert sof > 0
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def near(box, expected, slack: float = 8.0) -> bool:
    return all(abs(a - b) <= slack for a, b in zip(box, expected, strict=False))
