"""Which back-end a gallery location means: a folder is the embedded store (Qdrant Edge), an
http(s) URL a Qdrant server or cluster. Each back-end's library is imported only when used."""
from __future__ import annotations

import os

from .edge_settings import EdgeSettings
from .store import GalleryStore, is_url


def open_store(location: str | os.PathLike, *, shards: int | None = None,
               settings: EdgeSettings | None = None) -> GalleryStore:
    """location: a folder (the embedded store, created owner-only; a folder of the earlier
    local-mode layout is migrated on first open) or an http(s) URL of a Qdrant server /
    cluster (API key from $QDRANT_API_KEY). shards: `shard_number` of collections created
    on a cluster. settings: the embedded store's index and search settings (default
    EdgeSettings(); a server has its own)."""
    if is_url(location):
        from .server_store import ServerStore

        return ServerStore(str(location), shards=shards)
    from .edge_store import EdgeStore

    return EdgeStore(location, settings)
