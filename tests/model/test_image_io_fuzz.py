"""Fuzzing the decode path: whatever the bytes, `decode_image` either returns an HxWx3 uint8
photo or raises an `ImageError` subclass (which the handler turns into a 4xx for the reference,
into that photo's own error for a test photo) - never any
other exception, never a hang. Arbitrary bytes, and valid PNG/JPEG/GIF/BMP/TIFF/WebP photos
with bytes flipped, cut, inserted or their header fields overwritten. Plus headers that
declare enormous sizes (decompression bombs): refused from the header, quickly."""
from __future__ import annotations

import io
import os
import struct
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from model.image_io import DEFAULT_MAX_PIXELS, ImageError, ImageTooLargeError, decode_image

# FUZZ_EXAMPLES=20000 for a longer campaign (the default keeps `make test` quick).
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "300")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow])


def encode(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **kwargs)
    return buffer.getvalue()


def _seeds() -> dict[str, bytes]:
    """Small valid photos in every mode/format branch of the decoder."""
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # EXIF orientation: rotate to display
    gray16 = Image.fromarray(rng.integers(0, 65535, (24, 32), dtype=np.uint16))
    palette = rgb.convert("P")
    palette.info["transparency"] = 0
    return {
        "png": encode(rgb, "PNG"),
        "png_rgba": encode(rgb.convert("RGBA"), "PNG"),
        "png_la": encode(rgb.convert("LA"), "PNG"),
        "png_gray16": encode(gray16, "PNG"),
        "png_palette_alpha": encode(palette, "PNG"),
        "png_exif": encode(rgb, "PNG", exif=exif.tobytes()),
        "jpeg": encode(rgb, "JPEG", quality=90),
        "jpeg_exif": encode(rgb, "JPEG", exif=exif.tobytes()),
        "jpeg_progressive": encode(rgb, "JPEG", progressive=True),
        "jpeg_cmyk": encode(rgb.convert("CMYK"), "JPEG"),
        "jpeg_gray": encode(rgb.convert("L"), "JPEG"),
        "gif": encode(rgb, "GIF"),
        "bmp": encode(rgb, "BMP"),
        "tiff": encode(rgb, "TIFF"),
        "webp": encode(rgb, "WEBP"),
    }


SEEDS = _seeds()


def check(data: bytes) -> None:
    """The property: a photo, or an ImageError with a code - nothing else."""
    try:
        out = decode_image(data)
    except ImageError as exc:
        assert exc.code and isinstance(exc.code, str)
        return
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8
    assert out.ndim == 3 and out.shape[2] == 3 and out.shape[0] >= 1 and out.shape[1] >= 1
    assert out.shape[0] * out.shape[1] <= DEFAULT_MAX_PIXELS


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_every_seed_photo_decodes(name):
    out = decode_image(SEEDS[name])
    assert out.dtype == np.uint8 and out.shape[2] == 3


@pytest.mark.timeout(300)
@FUZZ
@given(st.binary(max_size=4096))
@example(b"\x89PNG\r\n\x1a\n")
@example(b"\xff\xd8\xff")
@example(b"GIF89a")
@example(b"BM" + b"\0" * 60)
@example(b"II*\0")
@example(b"RIFF\0\0\0\0WEBPVP8 ")
def test_arbitrary_bytes(data):
    check(data)


@st.composite
def mutated(draw) -> bytes:
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["flip", "set", "cut", "insert", "delete", "header"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 64))]
        elif kind == "header":  # the first bytes hold sizes, modes, chunk lengths
            at = draw(st.integers(0, min(64, max(0, len(data) - 4))))
            data[at : at + 4] = draw(st.binary(min_size=4, max_size=4))
    return bytes(data)


@pytest.mark.timeout(300)
@FUZZ
@given(mutated())
def test_mutated_photos(data):
    check(data)


# ------------------------------------------------------------------ bomb headers


def png_header(width: int, height: int, bit_depth: int = 8, color: int = 2) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


def jpeg_with_size(width: int, height: int) -> bytes:
    """A real 16x16 JPEG whose SOF0 frame header is rewritten to width x height (JPEG's
    fields are 16 bit: at most 65535 x 65535)."""
    data = bytearray(encode(Image.new("RGB", (16, 16), (200, 30, 30)), "JPEG"))
    sof = data.find(b"\xff\xc0")
    assert sof > 0
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


@pytest.mark.timeout(60)
@pytest.mark.parametrize("data", [
    png_header(100_000, 100_000),  # 10 gigapixels: PIL's own bomb limit
    png_header(100_000, 100_000, bit_depth=16, color=6),
    png_header(7_000, 7_000),  # 49 MP: under PIL's limit, over ours (40 MP)
    png_header(1, 50_000_000),
    jpeg_with_size(65_535, 65_535),  # the largest a JPEG header can declare
    jpeg_with_size(8_000, 6_000),  # 48 MP
], ids=["png_100k", "png_100k_rgba16", "png_49mp", "png_1x50m", "jpeg_65k", "jpeg_48mp"])
def test_huge_declared_size_is_refused_from_the_header(data):
    with pytest.raises(ImageTooLargeError):
        decode_image(data)



# ------------------------------------------------------------------ PNG with valid CRCs
# A flipped byte in a PNG is mostly caught by the chunk CRC; rebuilding the CRCs lets the
# fuzzer reach the decoder's deeper paths (odd bit depths, colour types, interlacing,
# missing palettes, corrupt zlib streams).


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, at = [], 8
    while at + 8 <= len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        chunks.append((data[at + 4 : at + 8], data[at + 8 : at + 8 + length]))
        at += 12 + length
    return chunks


def build_png(chunks: list[tuple[bytes, bytes]]) -> bytes:
    out = b"\x89PNG\r\n\x1a\n"
    for kind, body in chunks:
        out += struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    return out


@st.composite
def valid_crc_png(draw) -> bytes:
    name = draw(st.sampled_from([n for n in sorted(SEEDS) if n.startswith("png")]))
    chunks = png_chunks(SEEDS[name])
    kind, header = chunks[0]
    width, height = draw(st.integers(1, 300)), draw(st.integers(1, 300))
    header = struct.pack(">II", width, height) + bytes([
        draw(st.sampled_from([1, 2, 4, 8, 16, draw(st.integers(0, 255))])),  # bit depth
        draw(st.sampled_from([0, 2, 3, 4, 6, draw(st.integers(0, 255))])),  # colour type
        draw(st.sampled_from([0, draw(st.integers(0, 255))])),  # compression
        draw(st.sampled_from([0, draw(st.integers(0, 255))])),  # filter
        draw(st.sampled_from([0, 1, draw(st.integers(0, 255))])),  # interlace
    ])
    chunks[0] = (kind, header)
    mode = draw(st.sampled_from(["keep", "raw", "mutate", "drop"]))
    for i, (kind, body) in enumerate(chunks):
        if kind == b"IDAT":
            if mode == "raw":  # a well-formed zlib stream of arbitrary scanlines
                body = zlib.compress(draw(st.binary(max_size=4096)))
            elif mode == "mutate" and body:
                body = bytearray(body)
                body[draw(st.integers(0, len(body) - 1))] ^= 0xFF
                body = bytes(body)
            chunks[i] = (kind, body)
    if mode == "drop":
        chunks = [c for c in chunks if c[0] != draw(st.sampled_from([b"PLTE", b"tRNS", b"IDAT", b"eXIf"]))]
    return build_png(chunks)


@pytest.mark.timeout(300)
@FUZZ
@given(valid_crc_png())
def test_png_with_valid_crcs(data):
    check(data)
