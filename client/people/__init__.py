"""Discover people: group every face of a photo collection by person, name a group once.

    from client.people import PeopleIndex
    index = PeopleIndex.open("people-state/")
    ...                                   # add_photo() each face-embed answer, then assign()

`threshold.py` (the grouping threshold, sized to the collection from the server's calibration
table), `grouping.py` (Chinese whispers on the graph of similar faces, then small groups
joined to the group whose centroid is most like theirs, with the one-person-per-photo rule and
the user's pins; average linkage beside it), `index.py` (the
living state: stable group ids, new photos, re-grouping, name / merge / split / reject, saved
as JSON + .npy), `gallery_link.py` (naming by a gallery, and enrolling a named group). numpy
and scipy (the `people` extra) are imported on first use of PeopleIndex, never by `import client`.
"""
from __future__ import annotations

from importlib import import_module

_LAZY = {"PeopleIndex": ".index", "PeopleError": ".index", "group_faces": ".grouping",
         "chinese_whispers": ".grouping", "join_small_groups": ".grouping", "average_linkage": ".grouping",
         "grouping_threshold": ".threshold"}

__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
