"""Python client for the face verification service.

    from face_verify_client import FaceClient   # installed: pip install ./client
    from client import FaceClient               # in the repository checkout
    result = FaceClient().verify("reference.jpg", ["a.jpg", "b.jpg"])

Needs only requests + pydantic (numpy / Pillow only when you pass arrays / PIL images);
never imports torch or the `model` package.
"""
from .client import DEFAULT_URL, FaceClient, read_key_file
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
from .models import (
    Box,
    Detection,
    EmbeddedFace,
    EmbeddingBatch,
    EmbeddingResult,
    FarThreshold,
    Health,
    PhotoEmbedding,
    PhotoError,
    ReferenceFace,
    TestResult,
    VerificationResult,
)
from .thresholds import CalibrationFileError

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
    "CalibrationFileError",
    "Box",
    "ReferenceFace",
    "TestResult",
    "Detection",
    "PhotoError",
    "PhotoEmbedding",
    "VerificationResult",
    "EmbeddedFace",
    "EmbeddingResult",
    "EmbeddingBatch",
    "FarThreshold",
    "Health",
]
