"""The face-verify / face-embed request contract: parsing, validation and error codes
(face-gallery's requests: handler/gallery_protocol.py).

Parsing and validation only (the engine names and the pixel limit are model/'s): every rule is
testable without a server or a network. TorchServe hands a request to the handler as a dict:

* multipart form: field name -> bytearray (text fields too; a repeated name keeps one value);
* JSON body: {"body": <already parsed object>} (bytes when the JSON did not parse);
* any other body: {"body" or "data": bytes} (str for text/* content types).
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from http import HTTPStatus

from model.image_io import DEFAULT_MAX_PIXELS
from model.onnx_embedder import ENGINES, PRECISIONS

# error code -> HTTP status. Image codes come from model.image_io.ImageError.code.
# A test photo with one of PHOTO_ERRORS gets it in its own result (the request is answered
# 200); in the reference or the embed photo it is the request's error.
ERROR_STATUS = {
    "missing_reference": 400,
    "missing_image": 400,
    "no_face_in_reference": 422,
    "empty_file": 400,
    "not_an_image": 400,
    "truncated_image": 400,
    "invalid_image": 400,
    "image_too_large": 413,
    "too_many_photos": 413,
    "malformed_json": 400,
    "invalid_base64": 400,
    "invalid_threshold": 400,
    "invalid_embeddings": 400,
    "unknown_field": 400,
    # face-gallery (handler/gallery_protocol.py, handler/gallery.py)
    "invalid_action": 400,
    "invalid_gallery": 400,
    "missing_name": 400,
    "bad_name": 400,
    "invalid_add": 400,
    "invalid_top_k": 400,
    "unknown_gallery": 404,
    "too_many_galleries": 409,
    "model_mismatch": 409,  # people enrolled with other weights: enrol them again or remove them
    "store_unavailable": 503,  # another process holds the gallery's store
    "internal_error": 500,
}

PHOTO_ERRORS = frozenset({"empty_file", "not_an_image", "truncated_image", "invalid_image", "image_too_large"})

TEST_FIELD = re.compile(r"test_([1-9][0-9]{0,8})")
IMAGE_FIELD = re.compile(r"image_([1-9][0-9]{0,8})")
RAW_KEYS = ("body", "data")
_DATA_URL = re.compile(r"data:[\w/+.-]*;base64,", re.IGNORECASE)


@dataclass(frozen=True)
class Settings:
    """Deployment choices: the model-config yaml's `handler:` section, then FACE_* env vars.
    Defaults = handler/model-config.yaml's values (a test keeps them equal). What the model
    is (input size, flip fusion, threshold) comes from the weights, not from here."""

    max_tests: int = 32  # test photos per verify request
    max_photos: int = 32  # photos per face-embed request (image_1 ... image_N)
    max_faces: int = 16  # faces embedded per photo (largest first)
    max_pixels: int = DEFAULT_MAX_PIXELS  # per photo, checked before decoding
    threads: int = 1  # inference threads per worker (the engine's and torch's)
    engine: str = "openvino"  # openvino | onnxruntime | torch: what runs the embedding network
    precision: str = "bf16"  # f32 | bf16 (OpenVINO, where the CPU has bf16 instructions, else f32)
    mode: str = ""  # verify | embed | gallery; empty: from the model name (face-embed -> embed)
    gallery_root: str = "~/.local/share/face-verify/galleries"  # face-gallery: a folder per named gallery
    max_galleries: int = 64  # face-gallery: named galleries one server keeps (each open one holds memory)
    gallery_url: str = ""  # face-gallery: a Qdrant server instead of the folders (holds one gallery)

    @classmethod
    def load(cls, yaml_config: Mapping | None = None, env: Mapping | None = None) -> Settings:
        section = (yaml_config or {}).get("handler") or {}
        unknown = sorted(set(section) - {field.name for field in fields(cls)})
        if unknown:  # e.g. flip: the weights say how they embed
            raise ValueError(f"handler setting(s) {unknown} do nothing here: the settings are "
                             f"{', '.join(field.name for field in fields(cls))}; "
                             "the model's facts come from its weights")
        env = env or {}
        values = {}
        for field in fields(cls):
            value = env.get(f"FACE_{field.name.upper()}", section.get(field.name))
            if value is None:
                continue
            if field.type == "int":
                try:
                    value = int(value)
                except (TypeError, ValueError):
                    raise ValueError(f"handler setting {field.name}={value!r} is not an integer") from None
                if value < 1:
                    raise ValueError(f"handler setting {field.name}={value} must be >= 1")
            elif field.name in _CHOICES and value not in _CHOICES[field.name]:
                raise ValueError(f"handler setting {field.name}={value!r}: expected one of "
                                 f"{', '.join(v for v in _CHOICES[field.name] if v)}")
            values[field.name] = value
        return cls(**values)

    def mode_for(self, model_name: str) -> str:
        if self.mode:
            return self.mode
        return "embed" if "embed" in model_name else "gallery" if "gallery" in model_name else "verify"


_CHOICES = {"engine": ENGINES, "precision": PRECISIONS, "mode": ("", "verify", "embed", "gallery")}


class RequestError(Exception):
    """A client error: `code` is machine-readable, `message` says what and which field."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def status(self) -> int:
        return ERROR_STATUS.get(self.code, 400)

    @property
    def phrase(self) -> str:
        return HTTPStatus(self.status).phrase

    def to_json(self) -> dict:
        return {"error": self.code, "message": self.message}


@dataclass(frozen=True)
class Photo:
    name: str  # the field it came in: reference, test_3, image
    data: bytes
    error: RequestError | None = None  # a test field that cannot be a photo (sent as text)


@dataclass(frozen=True)
class EmbedRequest:
    photos: list[Photo]  # one, or image_1 ... image_N in number order
    many: bool  # image_N fields / JSON "images": answered photo by photo
    # False: the faces' boxes and confidences only, each embedding [] (detection without the
    # network: a video tracker embeds only the faces it needs to look up)
    embeddings: bool = True


@dataclass(frozen=True)
class VerifyRequest:
    reference: Photo
    tests: list[Photo]  # in test number order
    threshold: float | None  # None: the checkpoint's calibrated threshold


def split_body(request: dict) -> tuple[str, dict | bytes]:
    """('json', dict) for a JSON object, ('raw', bytes) for a bare body, else ('form', dict):
    the payload is bytes exactly when the kind is 'raw' (callers narrow on the payload)."""
    if not isinstance(request, dict):
        raise RequestError("malformed_json", "the request could not be read")
    if len(request) == 1 and next(iter(request)) in RAW_KEYS:
        value = next(iter(request.values()))
        if isinstance(value, dict):
            return "json", value
        if isinstance(value, (list, int, float, bool)) or value is None:
            raise RequestError("malformed_json", "the JSON body must be an object")
        return "raw", value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return "form", request


def parse_json_bytes(raw: bytes) -> dict:
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise RequestError(
            "malformed_json",
            "the body is neither a multipart form (fields reference, test_1 ... test_N) "
            f"nor a valid JSON object ({exc})",
        ) from exc
    if not isinstance(value, dict):
        raise RequestError("malformed_json", "the JSON body must be an object")
    return value


def parse_verify(request: dict, max_tests: int) -> VerifyRequest:
    kind, payload = split_body(request)
    if isinstance(payload, bytes):
        payload, kind = parse_json_bytes(payload), "json"
    if kind == "json":
        return _verify_from_json(payload, max_tests)
    return _verify_from_form(payload, max_tests)


def _verify_from_form(fields: dict, max_tests: int) -> VerifyRequest:
    numbered, unknown = [], []
    for name in fields:
        match = TEST_FIELD.fullmatch(name)
        if match:
            numbered.append((int(match.group(1)), name))
        elif name not in ("reference", "threshold"):
            unknown.append(name)
    if unknown:
        raise RequestError(
            "unknown_field",
            f"unknown form field(s) {sorted(unknown)}: expected reference, test_1 ... "
            f"test_{max_tests} and optionally threshold",
        )
    _check_count(numbered, max_tests, lambda n: f"test_{n}", "test photos are test_1 ... test_")
    if fields.get("reference") is None:
        raise RequestError("missing_reference", "the form field 'reference' (one photo) is missing")
    tests = [_test_photo(fields[name], name) for _, name in sorted(numbered)]
    return VerifyRequest(
        Photo("reference", _form_bytes(fields["reference"], "reference")),
        tests,
        parse_threshold(fields.get("threshold")),
    )


def _verify_from_json(body: dict, max_tests: int) -> VerifyRequest:
    unknown = sorted(set(body) - {"reference", "tests", "threshold"})
    if unknown:
        raise RequestError(
            "unknown_field",
            f"unknown JSON key(s) {unknown}: expected reference, tests and optionally threshold",
        )
    tests = body.get("tests")
    if tests is None:
        tests = []
    if not isinstance(tests, list):
        raise RequestError("malformed_json", "'tests' must be a list of base64 strings")
    if len(tests) > max_tests:
        raise RequestError(
            "too_many_photos", f"'tests' has {len(tests)} photos; at most {max_tests} per request"
        )
    if body.get("reference") is None:
        raise RequestError("missing_reference", "the JSON key 'reference' (base64 photo) is missing")
    return VerifyRequest(
        Photo("reference", decode_base64(body["reference"], "reference")),
        [Photo(f"test_{i}", decode_base64(v, f"tests[{i - 1}] (test_{i})"))
         for i, v in enumerate(tests, start=1)],
        parse_threshold(body.get("threshold")),
    )


def _check_count(numbered: list, limit: int, name, fields: str) -> None:
    over = [n for n, _ in numbered if n > limit]
    if over:
        raise RequestError("too_many_photos", f"{name(max(over))}: {fields}{limit} (at most {limit} per request)")


def parse_embed(request: dict, max_photos: int) -> EmbedRequest:
    """One photo (multipart field 'image', a bare body, or JSON {"image": base64}), or many
    (fields image_1 ... image_N, or JSON {"images": [base64, ...]}), at most `max_photos`;
    optionally `embeddings` false (form text or JSON boolean): boxes only."""
    kind, payload = split_body(request)
    if isinstance(payload, bytes) and payload.lstrip()[:1] == b"{":
        payload, kind = parse_json_bytes(payload), "json"
    if isinstance(payload, bytes):
        if not payload:  # an empty POST: no photo at all, not an empty one
            raise RequestError("missing_image", "no photo: send it as the form field 'image', "
                               "the raw body, or JSON {\"image\": base64}")
        return EmbedRequest([Photo("image", payload)], many=False)
    if kind == "json":
        return _embed_from_json(payload, max_photos)
    numbered = [(int(m.group(1)), name) for name in payload if (m := IMAGE_FIELD.fullmatch(name))]
    unknown = sorted(set(payload) - {"image", "embeddings"} - {name for _, name in numbered})
    if unknown or (numbered and "image" in payload):
        raise RequestError("unknown_field", f"unknown form field(s) {unknown or ['image']}: expected 'image' "
                           f"(one photo) or image_1 ... image_{max_photos}, and optionally embeddings")
    embeddings = parse_embeddings_flag(payload.get("embeddings"))
    if numbered:
        _check_count(numbered, max_photos, lambda n: f"image_{n}", "photos are image_1 ... image_")
        return EmbedRequest([_test_photo(payload[name], name) for _, name in sorted(numbered)], many=True,
                            embeddings=embeddings)
    if payload.get("image") is None:
        raise RequestError("missing_image", "the form field 'image' (one photo) is missing")
    return EmbedRequest([Photo("image", _form_bytes(payload["image"], "image"))], many=False, embeddings=embeddings)


def parse_embeddings_flag(value: object) -> bool:
    """The `embeddings` option: absent or true -> True; false -> boxes only."""
    if value is None or value is True:
        return True
    if value is False:
        return False
    if isinstance(value, (bytes, bytearray, str)):
        text = (value.decode("ascii", "replace") if isinstance(value, (bytes, bytearray)) else value).strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no"):
            return False
    raise RequestError("invalid_embeddings", f"embeddings: expected true or false, not {str(value)[:40]!r}")


def _embed_from_json(body: dict, max_photos: int) -> EmbedRequest:
    unknown = sorted(set(body) - {"image", "images", "embeddings"})
    photos = sorted({"image", "images"} & set(body))
    if unknown or len(photos) > 1:
        raise RequestError("unknown_field", f"unknown JSON key(s) {unknown or photos}: expected 'image' "
                           "(one base64 photo) or 'images' (a list of them), and optionally embeddings")
    embeddings = parse_embeddings_flag(body.get("embeddings"))
    if "images" in body:
        images = body["images"]
        if not isinstance(images, list):
            raise RequestError("malformed_json", "'images' must be a list of base64 strings")
        if not images:
            raise RequestError("missing_image", "'images' is empty")
        if len(images) > max_photos:
            raise RequestError("too_many_photos",
                               f"'images' has {len(images)} photos; at most {max_photos} per request")
        return EmbedRequest([Photo(f"image_{i}", decode_base64(v, f"images[{i - 1}] (image_{i})"))
                             for i, v in enumerate(images, start=1)], many=True, embeddings=embeddings)
    if body.get("image") is None:
        raise RequestError("missing_image", "the JSON key 'image' (one photo) is missing")
    return EmbedRequest([Photo("image", decode_base64(body["image"], "image"))], many=False, embeddings=embeddings)


def _test_photo(value: object, field: str) -> Photo:
    try:
        return Photo(field, _form_bytes(value, field))
    except RequestError as error:
        return Photo(field, b"", error)


def _form_bytes(value: object, field: str) -> bytes:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    # A part sent as text/* or JSON arrives decoded: it cannot be a photo.
    raise RequestError("not_an_image", f"{field}: the form field must be a photo file, not text")


def decode_base64(value: object, field: str) -> bytes:
    if not isinstance(value, str):
        raise RequestError("invalid_base64", f"{field}: expected a base64 string")
    text = _DATA_URL.sub("", value.strip(), count=1)
    text = "".join(text.split())  # line-wrapped base64 is fine
    text = text.replace("-", "+").replace("_", "/")  # the URL-safe alphabet too
    text += "=" * (-len(text) % 4)  # and missing padding
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RequestError("invalid_base64", f"{field}: not valid base64 ({exc})") from None


def parse_threshold(value: object) -> float | None:
    """None when absent; else a finite number in [-1, 1] (form text, JSON number or string)."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        try:
            value = bytes(value).decode("ascii")
        except UnicodeDecodeError:
            raise RequestError("invalid_threshold", "threshold: not a number") from None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RequestError("invalid_threshold", "threshold: not a number")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise RequestError("invalid_threshold", f"threshold: {str(value)[:40]!r} is not a number") from None
    if not math.isfinite(number) or not -1.0 <= number <= 1.0:
        raise RequestError(
            "invalid_threshold", f"threshold: {number} is outside [-1, 1] (a cosine similarity)"
        )
    return number
