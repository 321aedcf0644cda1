"""Python client for the face verification service.

    from client import FaceClient
    result = FaceClient().verify("reference.jpg", ["a.jpg", "b.jpg"])

Needs only requests + pydantic (numpy / Pillow only when you pass arrays / PIL images);
never imports torch or the `model` package.
"""
from client.client import DEFAULT_URL, FaceClient, read_key_file
from client.errors import (
    AuthenticationError,
    BadInputError,
    FaceClientError,
    PhotoInputError,
    RequestTimeoutError,
    ResponseFormatError,
    ServerError,
    ServerUnavailableError,
)
from client.models import (
    Box,
    EmbeddedFace,
    EmbeddingResult,
    Health,
    ReferenceFace,
    TestResult,
    VerificationResult,
)

__all__ = [
    "DEFAULT_URL",
    "FaceClient",
    "read_key_file",
    "FaceClientError",
    "ServerUnavailableError",
    "RequestTimeoutError",
    "AuthenticationError",
    "BadInputError",
    "PhotoInputError",
    "ServerError",
    "ResponseFormatError",
    "Box",
    "ReferenceFace",
    "TestResult",
    "VerificationResult",
    "EmbeddedFace",
    "EmbeddingResult",
    "Health",
]
