"""Moves a gallery folder of the earlier embedded layout (qdrant-client's local mode:
`meta.json` + `collection/<name>/storage.sqlite`) into Qdrant Edge shards, on first open.

Every point (id, vector, payload) is copied, the counts are checked, and only then are the
old files deleted. An interrupted migration leaves the old files in place and is redone on
the next open (the Edge shards it had started are written again: same ids)."""
from __future__ import annotations

import shutil
from pathlib import Path

from .errors import GalleryError
from .store import PREFIX, Face

OLD_FILES = ("meta.json", ".lock")
OLD_FOLDER = "collection"


def is_local_mode(path: Path) -> bool:
    return (path / "meta.json").is_file() or (path / OLD_FOLDER).is_dir()


def migrate(path: Path, store) -> int:
    """Copies every point of the local-mode folder `path` into `store` (an EdgeStore on the
    same folder); returns how many. Raises GalleryError when the folder cannot be read."""
    try:
        from qdrant_client import QdrantClient, models
    except ImportError as exc:  # pragma: no cover - qdrant-client is a requirement
        raise GalleryError(f"{path} holds a gallery of the earlier layout and qdrant-client is not installed "
                           "to migrate it: pip install qdrant-client, then run `face-verify gallery list "
                           f"--gallery {path}` once", code="migration_needed") from exc
    try:
        client = QdrantClient(path=str(path))
    except RuntimeError as exc:
        raise GalleryError(f"cannot migrate the gallery at {path}: {exc}", code="store_unavailable") from exc
    copied = 0
    try:
        for collection in sorted(c.name for c in client.get_collections().collections):
            if not collection.startswith(PREFIX):
                continue
            expected = client.count(collection, exact=True).count
            vectors = client.get_collection(collection).config.params.vectors
            if not isinstance(vectors, models.VectorParams):  # the gallery's collections hold one unnamed vector
                raise GalleryError(f"cannot migrate {collection}: not a gallery collection", code="migration_failed")
            store.ensure(collection, vectors.size)
            offset = None
            while True:
                page, offset = client.scroll(collection, limit=1000, offset=offset, with_payload=True,
                                             with_vectors=True)
                store.put(collection, [Face.from_payload(dict(p.payload or {}), p.vector) for p in page])
                if offset is None:
                    break
            if store.count(collection) < expected:
                raise GalleryError(f"migrating {collection}: {expected} points in the old store, "
                                   f"{store.count(collection)} copied", code="migration_failed")
            copied += expected
    finally:
        client.close()
    shutil.rmtree(path / OLD_FOLDER, ignore_errors=True)
    for name in OLD_FILES:
        (path / name).unlink(missing_ok=True)
    return copied
