"""FaceClient: the Python SDK for the face verification service (TorchServe).

Needs only requests + pydantic; never imports torch or the `model` package.

Token (TorchServe's token authorization; the inference key goes in
`Authorization: Bearer <key>`), first found wins:
  1. the `token=` argument (`token=""` sends no Authorization header at all);
  2. the environment variable FACE_VERIFY_TOKEN;
  3. the "inference" key of a TorchServe key file: the `key_file=` argument, else
     $FACE_VERIFY_KEY_FILE, else `./key_file.json` in the working directory (TorchServe
     writes it in the folder `torchserve --start` ran in: the repository root for
     `make serve`). Never a file found through where this package is installed.
  4. none: requests go out without a token (a server with token auth off accepts them).
A key read from a file is re-read once when the server rejects it (TorchServe writes new
keys on every start), so a long-lived client survives a server restart.

Threshold: `verify(threshold=)`, else `FaceClient(threshold=)`, else a calibrated threshold
file (client/thresholds.py; `face-verify calibrate --save` writes one), else the server's.

Any number of test photos: `verify` sends them in as many requests as the server's limits
need (client/batching.py) and merges the answers, in order. A test photo the server cannot
use gets its own result with `error` (code, message naming the file); the others stand.

Retries: verify / embed / health are pure functions of their input, so a request is
re-sent (up to `retries` more times, backoff 0.25 s, 0.5 s, ...) when the connection fails
or the server answers 502/503/504 (no worker free, worker restarting). A 503 caused by the
handler itself crashing ("Prediction failed") is not retried: it would fail again. 4xx are
never retried.
"""
from __future__ import annotations

import json
import os
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar, cast

import requests
from pydantic import BaseModel, ValidationError
from urllib3.filepost import encode_multipart_formdata

from .batching import Item, chunks, label, name_photo, server_limit
from .errors import (
    AuthenticationError,
    BadInputError,
    FaceClientError,
    PhotoInputError,
    RequestTimeoutError,
    ResponseFormatError,
    ServerError,
    ServerUnavailableError,
)
from .models import EmbeddingBatch, EmbeddingResult, Health, VerificationResult
from .photos import PhotoLike, is_single_photo, photo_part
from .thresholds import find_threshold_file, read_threshold_file

DEFAULT_URL = "http://127.0.0.1:8080"
VERIFY_MODEL = "face-verify"
EMBED_MODEL = "face-embed"
KEY_FILE_NAME = "key_file.json"
TOKEN_ENV = "FACE_VERIFY_TOKEN"
KEY_FILE_ENV = "FACE_VERIFY_KEY_FILE"
URL_ENV = "FACE_VERIFY_URL"
RETRY_STATUSES = frozenset({502, 503, 504})
# TorchServe's answer when the handler raised: deterministic, so not worth a retry.
HANDLER_FAILURES = ("Prediction failed", "Invalid model predict output",
                    "number of batch response mismatched")
# The server's defaults (handler/model-config.yaml max_tests, TorchServe max_request_size);
# a server configured lower says so in its `too_many_photos` answer and is followed.
MAX_TESTS_PER_REQUEST = 32
MAX_REQUEST_BYTES = 32 * 1024 * 1024

ModelT = TypeVar("ModelT", bound=BaseModel)


def read_key_file(path: str | os.PathLike, kind: str = "inference") -> str:
    """The `kind` key ("inference", "management" or "API") from a TorchServe key file:
    {"management": {"key": ..., "expiration time": ...}, "inference": {...}, "API": {"key": ...}}."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        key = data[kind]["key"]
    except OSError as exc:
        raise AuthenticationError(f"cannot read the TorchServe key file {path}: {exc}",
                                  code="key_file_unreadable") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise AuthenticationError(f"{path} is not a TorchServe key file with an {kind!r} key",
                                  code="key_file_invalid") from exc
    if not isinstance(key, str) or not key:
        raise AuthenticationError(f"{path} has an empty {kind!r} key", code="key_file_invalid")
    return key


def default_key_files() -> list[Path]:
    """Where a key file is looked for when neither a token nor a key file is given."""
    env = os.environ.get(KEY_FILE_ENV)
    return [Path(env)] if env else [Path.cwd() / KEY_FILE_NAME]


class FaceClient:
    """Client for `face-verify` (and `face-embed`) served by TorchServe.

    >>> client = FaceClient()                      # http://127.0.0.1:8080, token from key_file.json
    >>> result = client.verify("ref.jpg", ["a.jpg", "b.jpg"])
    >>> [r.match for r in result.results]
    """

    def __init__(
        self,
        base_url: str | None = None,
        token: str | None = None,
        timeout: float = 30.0,
        retries: int = 2,
        key_file: str | os.PathLike | None = None,
        *,
        connect_timeout: float = 5.0,
        backoff: float = 0.25,
        encoding: str = "jpeg",
        verify_model: str = VERIFY_MODEL,
        embed_model: str = EMBED_MODEL,
        session: requests.Session | None = None,
        threshold: float | None = None,
        threshold_file: str | os.PathLike | None = None,
        max_tests_per_request: int = MAX_TESTS_PER_REQUEST,
        max_request_bytes: int = MAX_REQUEST_BYTES,
    ) -> None:
        """
        base_url: the inference address (default $FACE_VERIFY_URL, else http://127.0.0.1:8080).
        token: the inference key; see the module docstring for where it comes from otherwise.
        timeout: seconds to wait for an answer (per attempt).
        retries: extra attempts on connection failures and 502/503/504.
        key_file: a TorchServe key_file.json to read the inference key from.
        connect_timeout: seconds to wait for the TCP connection (a dead host fails fast).
        encoding: "jpeg" (quality 95) or "png" for PIL images / numpy arrays.
        threshold: the default for `verify` (else a calibrated threshold file, else the server's).
        threshold_file: a file written by `face-verify calibrate --save` (client/thresholds.py).
        max_tests_per_request, max_request_bytes: how `verify` splits many photos.
        """
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if retries < 0:
            raise ValueError("retries must be >= 0")
        self.base_url = (base_url or os.environ.get(URL_ENV) or DEFAULT_URL).rstrip("/")
        if "://" not in self.base_url:
            self.base_url = "http://" + self.base_url
        self.timeout = float(timeout)
        self.connect_timeout = min(float(connect_timeout), self.timeout)
        self.retries = int(retries)
        self.backoff = float(backoff)
        self.encoding = encoding
        self.verify_model = verify_model
        self.embed_model = embed_model
        self._session = session or requests.Session()
        self._own_session = session is None
        self._key_file: Path | None = None
        self._token: str | None
        if token is not None:
            self._token, self.token_source = (token or None), ("argument" if token else "none")
        elif os.environ.get(TOKEN_ENV):
            self._token, self.token_source = os.environ[TOKEN_ENV], TOKEN_ENV
        else:
            self._token, self.token_source = None, "none"
            if key_file is not None:
                self._key_file = Path(key_file)
                self._token = read_key_file(self._key_file)  # an explicit file must be readable
            else:
                for path in default_key_files():
                    if path.is_file():
                        self._key_file = path
                        break
                if self._key_file is not None:
                    self._token = read_key_file(self._key_file)
            if self._key_file is not None:
                self.token_source = str(self._key_file)
        if max_tests_per_request < 1 or max_request_bytes < 1:
            raise ValueError("max_tests_per_request and max_request_bytes must be >= 1")
        self.max_tests_per_request = int(max_tests_per_request)
        self.max_request_bytes = int(max_request_bytes)
        self.calibration: dict | None = None  # the threshold file's content, when one is used
        self.threshold = None if threshold is None else float(_format_threshold(threshold))
        self.threshold_source = "argument" if threshold is not None else "server"
        if threshold is None:
            threshold_path = find_threshold_file(threshold_file)
            if threshold_path is not None:
                self.calibration = read_threshold_file(threshold_path)
                self.threshold = float(self.calibration["threshold"])
                self.threshold_source = str(threshold_path)

    # ------------------------------------------------------------------ public API

    def verify(self, reference: PhotoLike, tests: Iterable[PhotoLike] | PhotoLike,
               threshold: float | None = None, *,
               progress: Callable[[int, int], None] | None = None) -> VerificationResult:
        """Is the person of `reference` in each of `tests`? `result.results[i]` is `tests[i]`
        (named `test_{i+1}`), however many requests it took. A test photo that could not be
        used has `error` set (its message names the file) and no verdict. `threshold`
        overrides the client's default (see the module docstring). `progress(done, total)`
        is called after each request."""
        # cast: what is_single_photo says is not one photo is an iterable of photos
        photos = [tests] if is_single_photo(tests) else list(cast(Iterable[PhotoLike], tests))
        if len(photos) == 0:
            raise PhotoInputError("give at least one test photo", code="no_tests")
        threshold = self.threshold if threshold is None else threshold
        reference_name = label(reference, "reference")
        ref_part = photo_part("reference", reference, self.encoding)
        extra = [] if threshold is None else [("threshold", _format_threshold(threshold))]
        # A reference over the limit by itself: sent anyway, the server's 413 says so.
        room = self.max_request_bytes - len(ref_part[1]) - 4 * PART_OVERHEAD_BYTES
        budget = room if room > 0 else None
        results: list[dict] = []
        first: VerificationResult | None = None
        for chunk in chunks(photos, self.encoding, self.max_tests_per_request, budget):
            if chunk[0].part is None:
                results.append(_too_large(chunk[0], self.max_request_bytes))
            else:
                answer = self._verify_chunk(ref_part, reference_name, chunk, extra)
                first = first or answer
                for item, result in zip(chunk, answer.results, strict=False):
                    results.append(_renamed(result.model_dump(mode="json"), item))
            if progress is not None:
                progress(len(results), len(photos))
        if first is None:  # every photo was too large to send: nothing to compare with
            raise PhotoInputError(results[0]["error"]["message"], code="request_too_large")
        merged = VerificationResult.model_validate(first.model_dump(mode="json") | {"results": results})
        self._check_calibration(merged.model)
        return merged

    def _verify_chunk(self, ref_part: tuple, reference_name: str, chunk: list[Item],
                      extra: list) -> VerificationResult:
        """One request; split further when the server takes fewer photos than assumed."""
        fields: list[tuple[str, Any]] = [("reference", ref_part)]
        for number, item in enumerate(chunk, start=1):
            filename, data, content_type = _sent_part(item)
            fields.append((f"test_{number}", (f"test_{number}{Path(filename).suffix}", data, content_type)))
        try:
            result = self._post_multipart(self.verify_model, fields + extra, VerificationResult)
        except BadInputError as exc:
            limit = server_limit(exc.message) if exc.code == "too_many_photos" else None
            if limit is not None and limit < len(chunk):
                self.max_tests_per_request = limit
                parts = [self._verify_chunk(ref_part, reference_name, chunk[i : i + limit], extra)
                         for i in range(0, len(chunk), limit)]
                return parts[0].model_copy(update={"results": [r for p in parts for r in p.results]})
            raise _named(exc, "reference", reference_name) from None
        if len(result.results) != len(chunk):
            raise ResponseFormatError(
                f"sent {len(chunk)} test photos but got {len(result.results)} results",
                code="result_count_mismatch")
        return result

    def _check_calibration(self, model: str) -> None:
        calibrated = (self.calibration or {}).get("model")
        if calibrated and self.threshold_source != "argument" and calibrated != model:
            warnings.warn(f"the threshold from {self.threshold_source} was calibrated for {calibrated}, "
                          f"but the server runs {model}: calibrate again", stacklevel=3)

    def embed(self, photo: PhotoLike) -> EmbeddingResult:
        """Every face in the photo: box, detector confidence and L2-normalised embedding."""
        part = photo_part("image", photo, self.encoding)
        try:
            return self._post_multipart(self.embed_model, [("image", part)], EmbeddingResult)
        except BadInputError as exc:
            raise _named(exc, "image", label(photo, "image")) from None

    def embed_many(self, photos: Iterable[PhotoLike], *,
                   progress: Callable[[int, int], None] | None = None) -> EmbeddingBatch:
        """`embed` for many photos in few requests (fields image_1 ... image_N, as many per
        request as the server's limits allow). `result.photos[i]` is `photos[i]` (named
        `image_{i+1}`); a photo that could not be used has `error` set (its message names the
        file), the others stand. `progress(done, total)` after each request."""
        photos = list(photos)
        if not photos:
            raise PhotoInputError("give at least one photo", code="no_photos")
        answers: list[dict] = []
        first: EmbeddingBatch | None = None
        for chunk in chunks(photos, self.encoding, self.max_tests_per_request,
                            self.max_request_bytes - PART_OVERHEAD_BYTES, what="photos"):
            if chunk[0].part is None:
                answers.append({"name": f"image_{chunk[0].index + 1}", "faces": [], "error": {
                    "code": "request_too_large", "message": f"{chunk[0].label}: the photo is over the server's "
                    f"{self.max_request_bytes / 2**20:g} MiB request limit; not sent"}})
            else:
                answer = self._embed_chunk(chunk)
                first = first or answer
                answers += [_renamed(photo.model_dump(mode="json"), item, "image")
                            for item, photo in zip(chunk, answer.photos, strict=False)]
            if progress is not None:
                progress(len(answers), len(photos))
        if first is None:
            raise PhotoInputError(answers[0]["error"]["message"], code="request_too_large")
        return EmbeddingBatch.model_validate(first.model_dump(mode="json") | {"photos": answers})

    def _embed_chunk(self, chunk: list[Item]) -> EmbeddingBatch:
        """One request; split further when the server takes fewer photos than assumed."""
        fields = [(f"image_{n}", (f"image_{n}{Path(filename).suffix}", data, content_type))
                  for n, (filename, data, content_type) in enumerate(map(_sent_part, chunk), start=1)]
        try:
            result = self._post_multipart(self.embed_model, fields, EmbeddingBatch)
        except BadInputError as exc:
            limit = server_limit(exc.message) if exc.code == "too_many_photos" else None
            if limit is None or limit >= len(chunk):
                raise
            self.max_tests_per_request = limit
            parts = [self._embed_chunk(chunk[i : i + limit]) for i in range(0, len(chunk), limit)]
            return parts[0].model_copy(update={"photos": [p for part in parts for p in part.photos]})
        if len(result.photos) != len(chunk):
            raise ResponseFormatError(f"sent {len(chunk)} photos but got {len(result.photos)} answers",
                                      code="result_count_mismatch")
        return result

    def health(self) -> Health:
        """TorchServe's /ping. An "Unhealthy" answer (HTTP 500) is returned, not raised."""
        response = self._request("GET", "/ping")
        if response.status_code == 500:
            try:
                return Health.model_validate(response.json())
            except (ValueError, ValidationError):
                pass
        return self._parse(response, Health)

    def close(self) -> None:
        if self._own_session:
            self._session.close()

    def __enter__(self) -> FaceClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"FaceClient(base_url={self.base_url!r}, token from {self.token_source})"

    # ------------------------------------------------------------------ transport

    def build_multipart(self, fields: list[tuple[str, Any]], boundary: str | None = None) -> tuple[bytes, str]:
        """(body, content type). Exposed so tests can compare bodies with a fixed boundary."""
        return encode_multipart_formdata(fields, boundary=boundary)

    def post_form(self, model: str, fields: list[tuple[str, Any]], schema: type[ModelT]) -> ModelT:
        """POST /predictions/<model> with a multipart form (text fields as str, files as
        (filename, data, content type)); the answer parsed as `schema`, errors raised as the
        hierarchy's, retried as the module docstring says."""
        return self._post_multipart(model, fields, schema)

    def post_json(self, model: str, body: dict, schema: type[ModelT]) -> ModelT:
        """POST /predictions/<model> with a JSON object; as post_form."""
        response = self._request("POST", f"/predictions/{model}", data=json.dumps(body).encode("utf-8"),
                                 headers={"Content-Type": "application/json"})
        return self._parse(response, schema)

    def _post_multipart(self, model: str, fields: list[tuple[str, Any]], schema: type[ModelT]) -> ModelT:
        body, content_type = self.build_multipart(fields)
        response = self._request("POST", f"/predictions/{model}", data=body,
                                 headers={"Content-Type": content_type})
        return self._parse(response, schema)

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        return headers

    def _request(self, method: str, path: str, *, data: bytes | None = None,
                 headers: dict[str, str] | None = None) -> requests.Response:
        url = self.base_url + path
        key_file_to_reread = self._key_file  # once, after the first refused token
        attempt = 0
        while True:
            try:
                response = self._session.request(
                    method, url, data=data, headers={**self._headers(), **(headers or {})},
                    timeout=(self.connect_timeout, self.timeout), allow_redirects=False)
            except requests.exceptions.ConnectTimeout as exc:
                error: FaceClientError = ServerUnavailableError(
                    f"could not connect to {self.base_url} within {self.connect_timeout:g} s",
                    code="connect_timeout", url=url)
                error.__cause__ = exc
            except requests.exceptions.Timeout as exc:
                # The request may be in progress server-side; not retried (it would just
                # take as long again).
                raise RequestTimeoutError(
                    f"{self.base_url} did not answer {method} {path} within {self.timeout:g} s "
                    "(raise `timeout` for many or very large photos)", code="timeout", url=url) from exc
            except requests.exceptions.ConnectionError as exc:
                error = ServerUnavailableError(
                    f"cannot reach the face verification server at {self.base_url} "
                    f"({_reason(exc)}); is it running? start it with `make serve`",
                    code="connection_failed", url=url)
                error.__cause__ = exc
            except requests.exceptions.RequestException as exc:
                raise FaceClientError(f"{method} {url} failed: {exc}", url=url) from exc
            else:
                if _is_auth_failure(response) and key_file_to_reread is not None:
                    # the server may have restarted with new keys
                    key_file, key_file_to_reread = key_file_to_reread, None
                    try:
                        fresh = read_key_file(key_file)
                    except AuthenticationError:
                        fresh = None
                    if fresh and fresh != self._token:
                        self._token = fresh
                        continue
                retryable = response.status_code in RETRY_STATUSES or _is_worker_death(response)
                if not retryable or _is_handler_failure(response):
                    return response
                error = _error_from_response(response, url)
            if attempt >= self.retries:
                raise error
            time.sleep(self.backoff * (2 ** attempt))
            attempt += 1

    def _parse(self, response: requests.Response, schema: type[ModelT]) -> ModelT:
        url = response.url
        if not 200 <= response.status_code < 300:
            raise _error_from_response(response, url, token_source=self.token_source)
        try:
            payload = response.json()
        except ValueError as exc:
            raise ResponseFormatError(f"the server answered HTTP {response.status_code} with non-JSON: "
                                      f"{response.text[:200]!r}", status=response.status_code,
                                      code="not_json", url=url, body=response.text[:2000]) from exc
        try:
            return schema.model_validate(payload)
        except ValidationError as exc:
            raise ResponseFormatError(
                f"the answer does not match the {schema.__name__} contract: {exc.error_count()} "
                f"problem(s), first: {_first_problem(exc)}", status=response.status_code,
                code="contract_mismatch", url=url, body=response.text[:2000]) from exc


# ---------------------------------------------------------------------- helpers

PART_OVERHEAD_BYTES = 512  # a multipart part's headers (reference, threshold, closing boundary)


def _renamed(result: dict, item: Item, prefix: str = "test") -> dict:
    """A chunk's result under its place in the caller's list (`test_3`, `image_3`), its error
    naming the file."""
    field, result["name"] = result["name"], f"{prefix}_{item.index + 1}"
    if result.get("error"):
        result["error"] = {**result["error"], "message": name_photo(result["error"]["message"], field, item.label)}
    return result


def _sent_part(item: Item) -> tuple[str, bytes, str]:
    """(filename, data, content type) of a photo in a request. chunks() gives a photo too large
    to send in a chunk of its own, answered without a request, so every item sent has its part."""
    assert item.part is not None, f"{item.label} is too large to send"
    return item.part


def _too_large(item: Item, limit: int) -> dict:
    return {"name": f"test_{item.index + 1}", "match": None, "score": None, "box": None, "faces": None,
            "detections": [], "error": {"code": "request_too_large", "message":
                f"{item.label}: the photo with the reference is over the server's {limit / 2**20:g} MiB "
                "request limit; not sent"}}


def _named(exc: FaceClientError, field: str, name: str) -> FaceClientError:
    """The same error, its message naming the caller's file instead of the form field."""
    if name != field and exc.message.startswith(f"{field}: "):
        exc.message = f"{field} {name}: {exc.message[len(field) + 2:]}"
        exc.args = (exc.message,)
    return exc


def _format_threshold(threshold: float) -> str:
    try:
        value = float(threshold)
    except (TypeError, ValueError):
        raise BadInputError(f"threshold must be a number, not {threshold!r}", code="bad_threshold") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise BadInputError(f"threshold must be finite, not {threshold!r}", code="bad_threshold")
    return repr(value)


def _reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "Name or service not known", "No route to host",
                   "Connection reset", "Remote end closed", "Temporary failure in name resolution",
                   "Network is unreachable"):
        if marker in text:
            return marker.lower()
    return text[:160]


def _json_body(response: requests.Response) -> dict | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _is_auth_failure(response: requests.Response) -> bool:
    if response.status_code in (401, 403):
        return True
    if response.status_code == 400:
        # TorchServe 0.12 answers a missing/wrong/expired token with
        # 400 {"code": 400, "type": "InvalidKeyException", "message": "Token Authorization failed..."}
        body = _json_body(response) or {}
        return body.get("type") == "InvalidKeyException" or "Token Authorization failed" in str(
            body.get("message", ""))
    return False


def _is_worker_death(response: requests.Response) -> bool:
    """TorchServe answers the request that was running in a worker process that died (killed,
    out of memory) with 500/507 "Worker died."; the restarted worker will answer it."""
    if response.status_code not in (500, 507):
        return False
    return "Worker died" in str((_json_body(response) or {}).get("message", ""))


def _is_handler_failure(response: requests.Response) -> bool:
    if response.status_code != 503:
        return False
    body = _json_body(response) or {}
    return body.get("type") == "InternalServerException" and str(body.get("message", "")) in HANDLER_FAILURES


def _error_from_response(response: requests.Response, url: str, token_source: str | None = None) -> FaceClientError:
    status = response.status_code
    body = _json_body(response)
    text = response.text[:2000]
    code: str | None
    if body and "error" in body:  # the service's own errors: {"error": code, "message": ...}
        code, message = str(body["error"]), str(body.get("message") or body["error"])
    elif body and "message" in body:  # TorchServe's: {"code": 503, "type": ..., "message": ...}
        code, message = (str(body["type"]) if body.get("type") else None), str(body["message"])
    else:
        code, message = None, (text.strip()[:300] or response.reason or f"HTTP {status}")

    def error(kind: type[FaceClientError], full_message: str) -> FaceClientError:
        return kind(full_message, status=status, code=code, url=url, body=text)

    if _is_auth_failure(response):
        hint = ("no token was sent: pass one (token=... / --token), set FACE_VERIFY_TOKEN, or run "
                "from the folder holding TorchServe's key_file.json" if token_source == "none" else
                f"the token (from {token_source}) was refused: it is wrong or expired "
                "(TorchServe writes new keys to key_file.json at every start)")
        return error(AuthenticationError, f"authentication failed: {message}; {hint}")
    if status in (502, 503, 504) and not _is_handler_failure(response):
        return error(ServerUnavailableError, f"the server is unavailable: {message}")
    if 400 <= status < 500:
        return error(BadInputError, message)
    if status >= 500:
        return error(ServerError, f"the server failed: {message}")
    return error(FaceClientError, f"unexpected HTTP {status}: {message}")


def _first_problem(exc: ValidationError) -> str:
    problem = exc.errors()[0]
    location = ".".join(str(part) for part in problem.get("loc", ())) or "<root>"
    return f"{location}: {problem.get('msg')}"
