"""Moving a gallery between stores: the embedded folder, a Qdrant server / cluster, a file.

- `export_file`: every point (collection, name, photo, model, sha256, vector) to a gzipped
  JSON-lines file, owner-only (it holds biometric data). The first line says what follows.
- `import_file`: such a file into a store.
- `copy`: store to store directly (`face-verify gallery push URL`).

Counts are checked: every point read is found in the destination afterwards (by id), and each
collection there holds at least as many points as were copied; otherwise GalleryError.
"""
from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from .errors import GalleryError
from .store import PAGE, Face, GalleryStore

FORMAT = "face-verify-gallery"
VERSION = 1


def _batches(faces: Iterable[Face]) -> Iterator[list[Face]]:
    batch: list[Face] = []
    for face in faces:
        batch.append(face)
        if len(batch) == PAGE:
            yield batch
            batch = []
    if batch:
        yield batch


def _write(store: GalleryStore, collection: str, dim: int, faces: Iterable[Face]) -> int:
    """Writes the faces into `collection`, checking each batch landed; returns how many."""
    store.ensure(collection, dim)
    written = 0
    for batch in _batches(faces):
        store.put(collection, batch)
        found = store.stored(collection, [face.id for face in batch])
        if len(found) != len({face.id for face in batch}):
            raise GalleryError(f"{collection}: {len(batch)} points written, {len(found)} found afterwards",
                               code="count_mismatch")
        written += len(batch)
    if store.count(collection) < written:
        raise GalleryError(f"{collection}: {written} points copied but the destination holds "
                           f"{store.count(collection)}", code="count_mismatch")
    return written


def check_count(collection: str, expected: int, copied: int) -> None:
    if copied != expected:
        raise GalleryError(f"{collection}: the source held {expected} points, {copied} were copied",
                           code="count_mismatch")


def _dimension(store: GalleryStore, collection: str) -> int:
    dim = store.dimension(collection)
    if dim is None:
        raise GalleryError(f"no collection {collection} in {store.location}", code="no_collection")
    return dim


def copy(source: GalleryStore, destination: GalleryStore) -> dict[str, int]:
    """Every collection of `source` into `destination`; points copied per collection."""
    copied = {}
    for collection in source.collections():
        expected = source.count(collection)
        copied[collection] = _write(destination, collection, _dimension(source, collection),
                                    source.faces(collection, with_vectors=True))
        check_count(collection, expected, copied[collection])
    destination.optimize()
    return copied


def export_file(source: GalleryStore, path: str | os.PathLike) -> dict[str, int]:
    path = Path(path)
    collections = {c: {"dim": _dimension(source, c), "count": source.count(c)} for c in source.collections()}
    header = {"format": FORMAT, "version": VERSION, "collections": collections}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    written: dict[str, int] = {}
    with gzip.open(os.fdopen(fd, "wb"), "wt", encoding="utf-8") as out:
        out.write(json.dumps(header) + "\n")
        for collection in collections:
            written[collection] = 0
            for face in source.faces(collection, with_vectors=True):
                out.write(json.dumps({"collection": collection, **face.payload(), "vector": face.vector}) + "\n")
                written[collection] += 1
    for collection, info in collections.items():
        check_count(collection, info["count"], written[collection])
    return written


def read_export(path: Path) -> tuple[dict, Iterator[dict]]:
    handle = gzip.open(path, "rt", encoding="utf-8")
    try:
        header = json.loads(handle.readline())
    except (OSError, ValueError) as exc:
        handle.close()
        raise GalleryError(f"{path} is not a gallery export ({exc})", code="bad_export") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("version") != VERSION:
        handle.close()
        raise GalleryError(f"{path} is not a {FORMAT} v{VERSION} file (written by `face-verify gallery export`)",
                           code="bad_export")

    def rows() -> Iterator[dict]:
        with handle:
            for line in handle:
                yield json.loads(line)
    return header, rows()


def import_file(path: str | os.PathLike, destination: GalleryStore) -> dict[str, int]:
    header, rows = read_export(Path(path))
    collections = header["collections"]
    copied = {c: 0 for c in collections}
    pending: dict[str, list[Face]] = {}
    for row in rows:
        collection = row["collection"]
        if collection not in collections:
            raise GalleryError(f"{path}: a point of {collection}, which the header does not list", code="bad_export")
        pending.setdefault(collection, []).append(Face.from_payload(row, row["vector"]))
        if len(pending[collection]) == PAGE:
            dim = collections[collection]["dim"]
            copied[collection] += _write(destination, collection, dim, pending.pop(collection))
    for collection, faces in pending.items():
        copied[collection] += _write(destination, collection, collections[collection]["dim"], faces)
    for collection, info in collections.items():
        check_count(collection, info["count"], copied[collection])
    destination.optimize()
    return copied
