import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from model.image_io import EmptyImageError, ImageTooLargeError, NotAnImageError, TruncatedImageError, decode_image


def encode(image: Image.Image, fmt: str = "PNG", **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels but carries almost no data (a bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 10))
            + chunk(b"IEND", b""))


def test_rgb_png_round_trips_to_bgr():
    rgb = np.zeros((4, 5, 3), dtype=np.uint8)
    rgb[..., 0] = 200  # red
    out = decode_image(encode(Image.fromarray(rgb)))
    assert out.shape == (4, 5, 3) and out.dtype == np.uint8
    assert out[0, 0].tolist() == [0, 0, 200]


@pytest.mark.parametrize("data, error", [
    (b"", EmptyImageError),
    (b"this is not a photo at all", NotAnImageError),
    (png_header_only(100_000, 100_000), ImageTooLargeError),
])
def test_bad_bytes_raise_typed_errors(data, error):
    with pytest.raises(error):
        decode_image(data)


def test_truncated_jpeg_is_reported():
    data = encode(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)), "JPEG")
    with pytest.raises(TruncatedImageError):
        decode_image(data[: len(data) // 2])


def test_pixel_bound_is_configurable():
    data = encode(Image.new("RGB", (100, 100)))
    assert decode_image(data, max_pixels=10_000).shape == (100, 100, 3)
    with pytest.raises(ImageTooLargeError):
        decode_image(data, max_pixels=9_999)


@pytest.mark.parametrize("mode", ["L", "LA", "RGBA", "P", "I;16", "CMYK"])
def test_every_mode_becomes_three_channel_uint8(mode):
    image = Image.new("RGB", (8, 6), (10, 120, 240)).convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    out = decode_image(encode(image, fmt))
    assert out.shape == (6, 8, 3) and out.dtype == np.uint8


def test_exif_orientation_is_applied():
    image = Image.new("RGB", (40, 20), (0, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    out = decode_image(encode(image, "JPEG", exif=exif.tobytes()))
    assert out.shape[:2] == (40, 20)
