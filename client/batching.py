"""Any number of test photos in requests within the server's limits, merged back in order.

The server takes at most `max_tests` test photos (32 by default) and `max_request_bytes`
(TorchServe's max_request_size, 32 MiB) per request. Photos are read one chunk at a time,
so a folder of thousands never sits in memory at once.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .photos import PhotoLike, photo_part

# Room per multipart part for its headers and boundary (field name, filename, content type).
PART_OVERHEAD = 512
TOO_MANY = re.compile(r"at most (\d+) per request")


@dataclass(frozen=True)
class Item:
    index: int  # 0-based position in the caller's list
    part: tuple[str, bytes, str] | None  # (filename, data, content type); None: not sent
    label: str  # how messages name the photo: its path, else "tests[i]"


def label(photo: PhotoLike, fallback: str) -> str:
    """A path names itself; bytes, arrays and images are named by their position."""
    if isinstance(photo, (str, os.PathLike)):
        return os.fspath(photo)
    name = getattr(photo, "name", None)  # an open file
    return name if isinstance(name, str) else fallback


def chunks(tests: Sequence[PhotoLike], encoding: str, max_tests: int,
           budget: int | None, what: str = "tests") -> Iterator[list[Item]]:
    """Consecutive chunks of at most `max_tests` photos whose parts fit in `budget` bytes
    (None: no byte bound). A photo too large to fit even alone comes as an Item with
    `part=None`, in its own chunk. A photo without a name is called `what[i]`."""
    byte_limit = float("inf") if budget is None else budget
    chunk: list[Item] = []
    size = 0
    for index, photo in enumerate(tests):
        name = label(photo, f"{what}[{index}]")
        part = photo_part("test", photo, encoding)
        cost = len(part[1]) + PART_OVERHEAD
        if cost > byte_limit:
            if chunk:
                yield chunk
            chunk, size = [], 0
            yield [Item(index, None, name)]
            continue
        if chunk and (len(chunk) >= max_tests or size + cost > byte_limit):
            yield chunk
            chunk, size = [], 0
        chunk.append(Item(index, part, name))
        size += cost
    if chunk:
        yield chunk


def server_limit(message: str) -> int | None:
    """The per-request photo limit a `too_many_photos` answer states, if it states one."""
    found = TOO_MANY.search(message)
    return int(found.group(1)) if found else None


def name_photo(message: str, field: str, name: str) -> str:
    """The server's message names the form field ("test_3: ..."); the caller's name is
    the file they gave."""
    prefix = f"{field}: "
    if message.startswith(prefix):
        return f"{name}: {message[len(prefix):]}"
    return f"{name}: {message}"
