"""The face-gallery request contract: which action, on which gallery, with what. Parsing and
validation only, testable without a server; handler/gallery.py carries the actions out.

One route (TorchServe gives one per model): POST /predictions/face-gallery with
* a multipart form: action, gallery, name, add, top_k, threshold as text fields; photos as
  files: `image` (one) or image_1 ... image_N;
* or a JSON object: the same keys, photos as base64 in "image" or "images": [...].

    action    identify | enroll | remove | people | count
    gallery   the gallery's name (default `default`): 1-64 of A-Z a-z 0-9 _ -
    name      the person (enroll, remove)
    add       enroll: true adds the photos to the person's earlier ones; default false replaces them
    top_k     identify: candidates per face (1-100, default 3)
    threshold identify: a cosine similarity in [-1, 1] (default: sized to the gallery)

enroll takes 1 ... max_photos photos, identify exactly one, the other actions none.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from handler.protocol import (
    IMAGE_FIELD,
    Photo,
    RequestError,
    decode_base64,
    parse_json_bytes,
    parse_threshold,
    split_body,
)

ACTIONS = ("identify", "enroll", "remove", "people", "count")
DEFAULT_GALLERY = "default"
GALLERY_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
DEFAULT_TOP_K = 3
MAX_TOP_K = 100
TEXT_KEYS = ("action", "gallery", "name", "add", "top_k", "threshold")
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no", "")


@dataclass(frozen=True)
class GalleryRequest:
    action: str
    gallery: str
    photos: list[Photo]  # image, or image_1 ... image_N (JSON: images[i] is image_{i+1}), in order
    name: str | None = None
    add: bool = False
    top_k: int = DEFAULT_TOP_K
    threshold: float | None = None  # None: the gallery sizes it


def parse_gallery(request: dict, max_photos: int) -> GalleryRequest:
    kind, payload = split_body(request)
    if kind == "raw":
        try:
            payload, kind = parse_json_bytes(payload), "json"  # type: ignore[arg-type]
        except RequestError:
            raise RequestError("malformed_json", "the body is neither a multipart form nor a JSON object "
                               "(action, gallery, ...: docs/gallery.md)") from None
    assert isinstance(payload, dict)
    if kind == "json":
        text, photos = _from_json(payload, max_photos)
    else:
        text, photos = _from_form(payload, max_photos)
    action = text.get("action")
    if action not in ACTIONS:
        raise RequestError("invalid_action", f"action: {str(action)[:40]!r} is not one of {', '.join(ACTIONS)}")
    gallery = text.get("gallery")
    gallery = DEFAULT_GALLERY if gallery is None else gallery
    if not isinstance(gallery, str) or not GALLERY_NAME.fullmatch(gallery):
        raise RequestError("invalid_gallery", f"gallery: {str(gallery)[:70]!r} is not a gallery name "
                           "(1-64 letters, digits, _ or -)")
    name = text.get("name")
    if action in ("enroll", "remove") and name is None:
        raise RequestError("missing_name", f"{action}: the person's `name` is missing")
    if name is not None and not isinstance(name, str):
        raise RequestError("bad_name", "name: a person's name is a string")
    _check_photos(action, photos, max_photos)
    return GalleryRequest(action, gallery, photos, name=name if isinstance(name, str) else None,
                          add=_flag(text.get("add")), top_k=_top_k(text.get("top_k")),
                          threshold=parse_threshold(text.get("threshold")))


def _from_form(fields: dict, max_photos: int) -> tuple[dict, list[Photo]]:
    numbered = sorted((int(m.group(1)), key) for key in fields if (m := IMAGE_FIELD.fullmatch(key)))
    unknown = sorted(set(fields) - set(TEXT_KEYS) - {"image"} - {key for _, key in numbered})
    if unknown or (numbered and "image" in fields):
        raise RequestError("unknown_field", f"unknown form field(s) {unknown or ['image']}: expected "
                           f"{', '.join(TEXT_KEYS)} and the photo `image` or image_1 ... image_{max_photos}")
    if numbered and numbered[-1][0] > max_photos:
        raise RequestError("too_many_photos", f"image_{numbered[-1][0]}: at most {max_photos} photos per request")
    keys = [key for _, key in numbered] or (["image"] if "image" in fields else [])
    text = {key: _text(fields[key], key) for key in TEXT_KEYS if fields.get(key) is not None}
    return text, [Photo(key, _photo(fields[key], key)) for key in keys]


def _from_json(body: dict, max_photos: int) -> tuple[dict, list[Photo]]:
    unknown = sorted(set(body) - set(TEXT_KEYS) - {"image", "images"})
    if unknown or ("image" in body and "images" in body):
        raise RequestError("unknown_field", f"unknown JSON key(s) {unknown or ['image', 'images']}: expected "
                           f"{', '.join(TEXT_KEYS)} and the photo(s) as base64 in 'image' or 'images'")
    text = {key: body[key] for key in TEXT_KEYS if body.get(key) is not None}
    if body.get("image") is not None:
        return text, [Photo("image", decode_base64(body["image"], "image"))]
    images = body.get("images", [])
    if not isinstance(images, list):
        raise RequestError("malformed_json", "'images' must be a list of base64 strings")
    if len(images) > max_photos:
        raise RequestError("too_many_photos", f"'images' has {len(images)} photos; at most {max_photos} per request")
    return text, [Photo(f"image_{i}", decode_base64(value, f"images[{i - 1}] (image_{i})"))
                  for i, value in enumerate(images, start=1)]


def _check_photos(action: str, photos: list[Photo], max_photos: int) -> None:
    if action == "enroll" and not photos:
        raise RequestError("missing_image", f"enroll: send 1 ... {max_photos} photos (image_1 ... image_N)")
    if action == "identify" and len(photos) != 1:
        raise RequestError("missing_image" if not photos else "too_many_photos",
                           f"identify: send exactly one photo (`image`), not {len(photos)}")
    if action not in ("enroll", "identify") and photos:
        raise RequestError("unknown_field", f"{action} takes no photos")


def _text(value: object, key: str) -> str:
    if isinstance(value, (bytes, bytearray)):  # a form part sent as a file
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise RequestError("malformed_json", f"{key}: not UTF-8 text") from None
    return str(value)


def _photo(value: object, key: str) -> bytes:
    # A part sent as text arrives decoded: it cannot be a photo.
    if not isinstance(value, (bytes, bytearray)):
        raise RequestError("not_an_image", f"{key}: the form field must be a photo file, not text")
    return bytes(value)


def _flag(value: object) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if str(value).strip().lower() in TRUE:
        return True
    if str(value).strip().lower() in FALSE:
        return False
    raise RequestError("invalid_add", f"add: {str(value)[:40]!r} is not true or false")


def _top_k(value: object) -> int:
    if value is None:
        return DEFAULT_TOP_K
    try:
        if isinstance(value, (bool, float)):
            raise ValueError
        top_k = int(str(value).strip())
    except ValueError:
        raise RequestError("invalid_top_k", f"top_k: {str(value)[:40]!r} is not a whole number") from None
    if not 1 <= top_k <= MAX_TOP_K:
        raise RequestError("invalid_top_k", f"top_k: {top_k} is outside 1 ... {MAX_TOP_K}")
    return top_k
