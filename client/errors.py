"""One exception hierarchy for everything the client can report.

    FaceClientError
    ├── ServerUnavailableError  (also a builtin ConnectionError) nothing answers at the URL
    ├── RequestTimeoutError     (also a builtin TimeoutError)    no answer within `timeout`
    ├── AuthenticationError     missing, wrong or expired token (401/403, or TorchServe's
    │                           400 InvalidKeyException)
    ├── BadInputError           (also ValueError) the server refused the request (4xx);
    │                           `.code` / `.message` are the server's
    ├── PhotoInputError         (also ValueError) a photo could not be read or encoded locally;
    │                           nothing was sent
    ├── ServerError             5xx: the server failed
    └── ResponseFormatError     a 2xx answer that does not match the serving contract
"""
from __future__ import annotations


class FaceClientError(Exception):
    """Base class. `status` is the HTTP status (None when no HTTP answer came back),
    `code` a short machine-readable reason, `message` the human-readable one."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 url: str | None = None, body: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.url = url
        self.body = body

    def __str__(self) -> str:
        status = f"HTTP {self.status}" if self.status is not None else None
        details = [detail for detail in (status, self.code) if detail]
        return f"{self.message} ({', '.join(details)})" if details else self.message


class ServerUnavailableError(FaceClientError, ConnectionError):
    """Nothing answers at the URL (refused, reset, DNS), or it kept answering 502/503/504."""


class RequestTimeoutError(FaceClientError, TimeoutError):
    """The server accepted the connection but did not answer within the timeout."""


class AuthenticationError(FaceClientError):
    """The token is missing, wrong or expired."""


class BadInputError(FaceClientError, ValueError):
    """The server refused the request as invalid (4xx). `code` is the server's error code
    (e.g. `no_face_in_reference`, `not_an_image`, `too_many_photos`)."""


class PhotoInputError(FaceClientError, ValueError):
    """A photo argument could not be read or encoded on the client side."""


class ServerError(FaceClientError):
    """The server failed (5xx)."""


class ResponseFormatError(FaceClientError):
    """The server answered 2xx, but not with the JSON the serving contract describes."""
