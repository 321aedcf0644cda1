"""Turn the photo arguments callers pass into (filename, bytes, content type) parts.

Accepted: a path (str / pathlib.Path), bytes / bytearray / memoryview (an encoded photo),
a binary file object, a PIL image, or a numpy array (HxWx3 RGB uint8; HxW grey and HxWx4
RGBA also work). Paths, bytes and file objects are sent unchanged; PIL images and arrays
are encoded with Pillow: JPEG (quality 95) by default or lossless PNG, and always PNG
for modes JPEG cannot hold (alpha, 16-bit). Pillow and numpy are imported only when such
an object is passed, so the client itself needs only requests + pydantic.

The part's filename is derived from the field name and the sniffed format (never from a
local path), so the same photo gives the same request bytes whatever form it came in.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

from .errors import PhotoInputError

# Anything the client accepts as a photo (PIL / numpy objects are duck-typed).
PhotoLike = str | os.PathLike | bytes | bytearray | memoryview | Any

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp"}  # photos in a folder
ENCODINGS = ("jpeg", "png")
JPEG_QUALITY = 95

_SIGNATURES = (
    (b"\xff\xd8\xff", ".jpg", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", ".png", "image/png"),
    (b"GIF87a", ".gif", "image/gif"),
    (b"GIF89a", ".gif", "image/gif"),
    (b"BM", ".bmp", "image/bmp"),
    (b"II*\x00", ".tif", "image/tiff"),
    (b"MM\x00*", ".tif", "image/tiff"),
)


def sniff(data: bytes) -> tuple[str, str]:
    """(extension, content type) from the magic bytes; unknown data is sent as-is and
    the server decides (it answers `not_an_image` for non-photos)."""
    for magic, extension, content_type in _SIGNATURES:
        if data.startswith(magic):
            return extension, content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return ".webp", "image/webp"
    return ".bin", "application/octet-stream"


def photo_bytes(photo: PhotoLike, encoding: str = "jpeg") -> bytes:
    """The encoded photo, read or encoded from whatever was passed."""
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {ENCODINGS}, not {encoding!r}")
    if isinstance(photo, (bytes, bytearray, memoryview)):
        return bytes(photo)
    if isinstance(photo, (str, os.PathLike)):
        path = Path(photo)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            raise PhotoInputError(f"no such photo: {path}", code="file_not_found") from None
        except IsADirectoryError:
            raise PhotoInputError(f"{path} is a folder, not a photo", code="not_a_file") from None
        except OSError as exc:
            raise PhotoInputError(f"cannot read {path}: {exc}", code="unreadable_file") from None
    if _is_pil_image(photo):
        return _encode_pil(photo, encoding)
    if _is_ndarray(photo):
        return _encode_array(photo, encoding)
    if hasattr(photo, "read"):
        data = photo.read()
        if isinstance(data, str):
            raise PhotoInputError("the file object is open in text mode; open photos with 'rb'",
                                  code="text_file")
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise PhotoInputError(f"file object .read() returned {type(data).__name__}, not bytes",
                                  code="unsupported_photo")
        return bytes(data)
    raise PhotoInputError(
        f"unsupported photo type {type(photo).__module__}.{type(photo).__qualname__}: pass a path, "
        "bytes, a binary file object, a PIL image or an HxWx3 RGB uint8 numpy array",
        code="unsupported_photo",
    )


def photo_part(field: str, photo: PhotoLike, encoding: str = "jpeg") -> tuple[str, bytes, str]:
    """(filename, data, content type) for one multipart file field."""
    data = photo_bytes(photo, encoding)
    if not data:
        # Sent anyway: the server's `empty_file` error names the field.
        return f"{field}.bin", data, "application/octet-stream"
    extension, content_type = sniff(data)
    return f"{field}{extension}", data, content_type


def is_single_photo(obj: Any) -> bool:
    """True for one photo (as opposed to a list of photos): paths, bytes, file objects,
    PIL images and arrays (an array is iterable, but it is one photo)."""
    return (isinstance(obj, (str, os.PathLike, bytes, bytearray, memoryview)) or _is_pil_image(obj)
            or _is_ndarray(obj) or hasattr(obj, "read"))


def _is_pil_image(obj: Any) -> bool:
    return type(obj).__module__.startswith("PIL.") and hasattr(obj, "save") and hasattr(obj, "mode")


def _is_ndarray(obj: Any) -> bool:
    return type(obj).__module__ == "numpy" and hasattr(obj, "__array_interface__")


def _encode_pil(image: Any, encoding: str) -> bytes:
    if image.mode in ("1", "L", "RGB", "CMYK") and encoding == "jpeg":
        if image.mode in ("1", "CMYK"):
            image = image.convert("RGB")
        fmt, options = "JPEG", {"quality": JPEG_QUALITY}
    else:
        if image.mode not in ("1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.mode else "RGB")
        fmt, options = "PNG", {}
    buffer = io.BytesIO()
    try:
        # No EXIF / ICC metadata is carried over: the pixels are what is sent.
        image.save(buffer, format=fmt, **options)
    except (OSError, ValueError) as exc:
        raise PhotoInputError(f"cannot encode the PIL image ({image.mode}): {exc}",
                              code="unsupported_photo") from exc
    return buffer.getvalue()


def _encode_array(array: Any, encoding: str) -> bytes:
    import numpy as np  # lazy: only callers passing arrays need numpy
    from PIL import Image

    if array.dtype != np.uint8:
        raise PhotoInputError(
            f"numpy photos must be uint8 (0-255), got {array.dtype}; "
            "convert with (array * 255).clip(0, 255).astype(np.uint8) if it is float in [0, 1]",
            code="unsupported_photo",
        )
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (3, 4))):
        raise PhotoInputError(
            f"numpy photos must be HxWx3 RGB (or HxW grey, HxWx4 RGBA), got shape {array.shape}",
            code="unsupported_photo",
        )
    if array.shape[0] < 1 or array.shape[1] < 1:
        raise PhotoInputError(f"the array has no pixels (shape {array.shape})", code="unsupported_photo")
    # uint8 HxW / HxWx3 / HxWx4 -> mode L / RGB / RGBA
    return _encode_pil(Image.fromarray(np.ascontiguousarray(array)), encoding)
