"""The face-gallery request contract: which action, on which gallery, with what. Parsing and
validation only, testable without a server; handler/gallery.py carries the actions out.

One route (TorchServe gives one per model): POST /predictions/face-gallery with
* a multipart form: action, gallery, name, add, top_k, threshold as text fields; photos as
  files: `image` (one) or image_1 ... image_N;
* or a JSON object: the same keys, photos as base64 in "image" or "images": [...].

    action    identify | enroll | remove | people | count | search | store | stored
    gallery   the gallery's name (default `default`): 1-64 of A-Z a-z 0-9 _ -
    name      the person (enroll, remove)
    add       enroll: true adds the photos to the person's earlier ones; default false replaces them
    top_k     identify: candidates per face (1-100, default 3)
    threshold identify: a cosine similarity in [-1, 1] (default: sized to the gallery)
    false_identification_rate  identify, search: in (0, 1), what the default threshold is sized
              for (default the gallery's, 1%)

enroll takes 1 ... max_photos photos, identify exactly one, the other actions none.

The actions on faces already embedded (by face-embed: video frames, a folder's photos, another
gallery's points) take JSON only, with `model`: the label of the model that embedded them
(face-embed's `model`), checked against the served one:

    search    faces: [{"box", "confidence", "embedding"}] (face-embed's faces); top_k, threshold
    store     faces: [{"name", "photo", "sha256", "embedding"}]: added (person + photo name
              replaces its point; the person's other model versions are deleted)
    stored    photos: [{"name", "photo"}]: each one's stored sha256 (null: not stored), what a
              bulk enrolment resumes by
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from handler.protocol import (
    IMAGE_FIELD,
    Photo,
    RequestError,
    decode_base64,
    parse_json_bytes,
    parse_threshold,
    split_body,
)

ACTIONS = ("identify", "enroll", "remove", "people", "count", "search", "store", "stored")
EMBEDDED_ACTIONS = ("search", "store", "stored")  # JSON only: embeddings are numbers, not files
DEFAULT_GALLERY = "default"
GALLERY_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
DEFAULT_TOP_K = 3
MAX_TOP_K = 100
TEXT_KEYS = ("action", "gallery", "name", "add", "top_k", "threshold", "false_identification_rate")
LIST_KEYS = ("faces", "photos")  # JSON lists of the actions on embedded faces
MAX_ITEMS = 1000  # faces searched / stored, photos looked up per request: the store's own write batch
MAX_DIMENSION = 4096
MAX_PHOTO_NAME = 255
SHA256 = re.compile(r"[0-9a-f]{64}")
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
    false_identification_rate: float | None = None  # None: the gallery's own
    model: str | None = None  # search, store: the label of the model that made the embeddings
    faces: list[dict] = field(default_factory=list)  # search, store: checked in shape (parse_gallery)
    lookups: list[dict] = field(default_factory=list)  # stored: {"name", "photo"}


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
    if action in EMBEDDED_ACTIONS and kind != "json":
        raise RequestError("malformed_json", f"{action}: send a JSON object (embeddings are lists of numbers)")
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
    model, faces, lookups = _embedded(action, payload if kind == "json" else {})
    rate = _rate(action, text.get("false_identification_rate"))
    return GalleryRequest(action, gallery, photos, name=name if isinstance(name, str) else None,
                          add=_flag(text.get("add")), top_k=_top_k(text.get("top_k")),
                          threshold=parse_threshold(text.get("threshold")), model=model, faces=faces,
                          lookups=lookups, false_identification_rate=rate)


def _embedded(action: str, body: dict) -> tuple[str | None, list[dict], list[dict]]:
    """search / store: (model, faces); stored: the photos looked up. Checked in shape and size
    here; the model and the vectors' dimension against the gallery by the action."""
    if action not in EMBEDDED_ACTIONS:
        unexpected = sorted(key for key in ("model", *LIST_KEYS) if key in body)
        if unexpected:
            raise RequestError("unknown_field", f"{action} takes no {', '.join(unexpected)}")
        return None, [], []
    key = "photos" if action == "stored" else "faces"
    if "photos" in body and key != "photos" or "faces" in body and key != "faces":
        raise RequestError("unknown_field", f"{action} takes `{key}`, not {'faces' if key == 'photos' else 'photos'}")
    items = body.get(key)
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise RequestError("malformed_json", f"{action}: `{key}` must be a list of objects")
    if len(items) > MAX_ITEMS:
        raise RequestError("too_many_photos", f"{key}: {len(items)} items; at most {MAX_ITEMS} per request")
    if action == "stored":
        return None, [], [{"name": _name_of(item, i), "photo": _photo_name(item, i)} for i, item in enumerate(items)]
    model = body.get("model")
    if not isinstance(model, str) or not model or len(model) > 200:
        raise RequestError("missing_model", f"{action}: `model`, the label of the model that made the "
                           "embeddings (face-embed's `model`), is missing")
    faces = [_face(action, item, i) for i, item in enumerate(items)]
    if len({len(face["embedding"]) for face in faces}) > 1:
        raise RequestError("bad_embedding", f"{key}: the embeddings differ in length")
    return model, faces, []


def _face(action: str, item: dict, index: int) -> dict:
    where = f"faces[{index}]"
    vector = item.get("embedding")
    if (not isinstance(vector, list) or not 1 <= len(vector) <= MAX_DIMENSION
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in vector)):
        raise RequestError("bad_embedding", f"{where}.embedding: a list of 1 ... {MAX_DIMENSION} finite numbers")
    norm = math.sqrt(sum(float(v) * float(v) for v in vector))
    if abs(norm - 1.0) > 0.01:  # face-embed's embeddings are L2-normalised; anything else is not one
        raise RequestError("bad_embedding", f"{where}.embedding: not L2-normalised (norm {norm:.3f})")
    if action == "search":
        box, confidence = item.get("box"), item.get("confidence", 0.0)
        if (not isinstance(box, list) or len(box) != 4
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box)):
            raise RequestError("bad_box", f"{where}.box: [x, y, width, height]")
        if not isinstance(confidence, (int, float)) or isinstance(confidence, bool):
            raise RequestError("bad_box", f"{where}.confidence: a number")
        return {"box": [float(v) for v in box], "confidence": float(confidence), "embedding": vector}
    sha256 = item.get("sha256")
    if sha256 is not None and not (isinstance(sha256, str) and SHA256.fullmatch(sha256)):
        raise RequestError("bad_sha256", f"{where}.sha256: 64 lower-case hex digits, or null")
    return {"name": _name_of(item, index), "photo": _photo_name(item, index), "sha256": sha256, "embedding": vector}


def _name_of(item: dict, index: int) -> str:
    name = item.get("name")
    if not isinstance(name, str):
        raise RequestError("bad_name", f"[{index}].name: a person's name is a string")
    return name  # checked as every enrolment's name is (client.gallery.enrolment.check_name)


def _photo_name(item: dict, index: int) -> str:
    photo = item.get("photo")
    if not isinstance(photo, str) or not photo.strip() or len(photo) > MAX_PHOTO_NAME or "\x00" in photo:
        raise RequestError("bad_photo_name", f"[{index}].photo: the photo's name, 1 ... {MAX_PHOTO_NAME} characters")
    return photo


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
    unknown = sorted(set(body) - set(TEXT_KEYS) - {"image", "images", "model", *LIST_KEYS})
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


def _rate(action: str, value: object) -> float | None:
    if value is None:
        return None
    if action not in ("identify", "search"):
        raise RequestError("unknown_field", f"{action} takes no false_identification_rate")
    try:
        if isinstance(value, bool):
            raise ValueError
        rate = float(str(value).strip())
    except ValueError:
        raise RequestError("invalid_rate", f"false_identification_rate: {str(value)[:40]!r} is not a number") from None
    if not 0.0 < rate < 1.0:
        raise RequestError("invalid_rate", f"false_identification_rate: {rate} is outside (0, 1)")
    return rate


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
