"""Decode untrusted photo bytes into a BGR uint8 array, safely.

One decoder for training, evaluation and serving: EXIF orientation is applied, every
mode (grayscale, 16-bit, CMYK, palette, alpha) becomes 3-channel 8-bit, and the pixel
count is checked from the header before any pixel is decoded (decompression bombs).
"""
from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps

DEFAULT_MAX_PIXELS = 40_000_000  # 40 MP: larger than any phone photo, far below a bomb


class ImageError(ValueError):
    """The bytes are not a usable photo. `code` is a short machine-readable reason."""

    code = "invalid_image"


class EmptyImageError(ImageError):
    code = "empty_file"


class NotAnImageError(ImageError):
    code = "not_an_image"


class TruncatedImageError(ImageError):
    code = "truncated_image"


class ImageTooLargeError(ImageError):
    code = "image_too_large"


def decode_image(data: bytes | bytearray, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Return the photo as an HxWx3 BGR uint8 array (OpenCV's layout)."""
    if not data:
        raise EmptyImageError("the file is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(bytes(data)))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLargeError(f"image exceeds the pixel bound ({exc})") from exc
    except Exception as exc:  # PIL raises several types for garbage input
        raise NotAnImageError("the file is not a photo in a known format (JPEG, PNG, ...)") from exc
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"image is {width}x{height} = {width * height} pixels; the bound is {max_pixels}"
        )
    if width < 1 or height < 1:
        raise NotAnImageError("image has no pixels")
    try:
        image.load()
        image = ImageOps.exif_transpose(image)
        rgb = _to_rgb(image)
    except (OSError, SyntaxError, ValueError) as exc:
        raise TruncatedImageError(f"the image data is truncated or corrupt ({exc})") from exc
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _to_rgb(image: Image.Image) -> np.ndarray:
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: scale to 8 bit rather than clip.
        array = np.asarray(image, dtype=np.float64)
        peak = array.max() or 1.0
        gray = (array * (255.0 / peak)).clip(0, 255).astype(np.uint8)
        return np.stack([gray] * 3, axis=-1)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Transparent pixels become white, the way a viewer shows them.
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return np.asarray(image.convert("RGB"), dtype=np.uint8)


def read_image(path: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    with open(path, "rb") as handle:
        return decode_image(handle.read(), max_pixels)
