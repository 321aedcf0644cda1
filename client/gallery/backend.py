"""What both gallery back-ends (local.py, served.py) keep alike: the FaceClient they embed
through, made on first use when none is given (and then closed with the gallery, while a given
one stays the caller's), and the false-identification rate identify's default threshold is
sized for."""
from __future__ import annotations

from ..client import FaceClient
from .errors import GalleryError


class GalleryBackend:
    def __init__(self, client: FaceClient | None, false_identification_rate: float) -> None:
        if not 0.0 < false_identification_rate < 1.0:
            raise GalleryError("false_identification_rate must be in (0, 1)", code="bad_rate")
        self.false_identification_rate = false_identification_rate
        self._client = client
        self._own_client = client is None

    @property
    def client(self) -> FaceClient:
        if self._client is None:
            self._client = FaceClient()
        return self._client

    def close_client(self) -> None:
        """Closes the FaceClient if the gallery made it."""
        if self._own_client and self._client is not None:
            self._client.close()
