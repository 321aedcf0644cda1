"""Names from a gallery that other processes keep using while cameras are watched.

The embedded store (a folder) is held by one process at a time. A watch runs for days; were
it to hold the store all along, nobody could enrol anyone meanwhile. So a folder is opened
for each look-up and closed right after (a few milliseconds: the store's files are in the
page cache after the first time); someone enrolled while the cameras run is found from the
next look-up on. Galleries shared by design (a Qdrant server, a gallery the service keeps)
stay open.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path

from ..gallery import GalleryError
from ..models import EmbeddingResult
from ..video.identities import GalleryIdentifier, Look

WAIT_S = 2.0


class SharedGalleryIdentifier:
    """Names from the gallery at `location` (None: the one `Gallery(name=name)` opens: the
    service's gallery `name`, default `default`), as GalleryIdentifier gives them. wait_s: how
    long a look-up waits while another process has a folder open (an enrolment) before it
    fails (the frame's faces stay pending)."""

    unknown = GalleryIdentifier.unknown

    def __init__(self, location: str | None, client, wait_s: float = WAIT_S, name: str | None = None) -> None:
        from ..gallery import Gallery

        self.client, self.wait_s = client, wait_s
        self.lock = threading.Lock()
        opened = Gallery(location, client=client) if location else Gallery(client=client, name=name)  # fails now
        where = str(location or getattr(opened, "location", "") or "")
        self.folder = where if where and "://" not in where and Path(where).expanduser().is_dir() else None
        self.kept: Gallery | None = opened
        if self.folder is not None:
            opened.close()
            self.kept = None

    def names(self, answer: EmbeddingResult) -> list[Look]:
        from ..gallery import Gallery

        with self.lock:
            if self.kept is not None:
                return GalleryIdentifier(self.kept).names(answer)
            deadline = time.monotonic() + self.wait_s
            while True:
                try:
                    with Gallery(self.folder, client=self.client) as gallery:
                        return GalleryIdentifier(gallery).names(answer)
                except GalleryError as exc:
                    if exc.code != "store_unavailable" or time.monotonic() > deadline:
                        raise
                time.sleep(0.05)

    def close(self) -> None:
        if self.kept is not None:
            self.kept.close()
