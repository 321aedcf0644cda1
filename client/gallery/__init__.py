"""The gallery (1:N): enrol people from photos, identify the faces in a photo among them.

    from client.gallery import Gallery
    with Gallery() as gallery:                    # the service's gallery; Gallery(folder): offline
        gallery.enroll("Ada", ["ada1.jpg", "ada2.jpg"])
        print(gallery.identify("party.jpg").identities)   # ["Ada", None, ...]; None: unknown

`gallery.py` (the Gallery: one interface over two back-ends), `served.py` (the default: the
galleries the service keeps, over HTTP), `local.py` (a store opened in this process: a folder
for offline use, or a Qdrant server URL), `enrolment.py` (the enrolment rules), `faces.py` (which face of
a photo is enrolled), `bulk.py` (enrolment of a folder: concurrent, resumable), `store.py`
(the vector store's interface), `open_store.py` (a folder or a URL -> a back-end),
`edge_store.py` (embedded: Qdrant Edge) and `edge_settings.py` (its settings),
`server_store.py` (a Qdrant server / cluster), `local_migration.py` (folders of the earlier
local-mode layout), `transfer.py` (export / import / push), `threshold.py` (the search
threshold sized to the gallery), `results.py` (answers), `errors.py`. The vector store's
library is imported only when a Gallery is first used, so the CLI starts without it.
"""
from __future__ import annotations

from importlib import import_module

from .edge_settings import EdgeSettings
from .errors import GalleryError, ModelMismatchError
from .results import Candidate, Enrollment, Identification, IdentifiedFace, Person, PersonRefusal, Refusal

_LAZY = {"Gallery": ".gallery", "default_location": ".gallery", "ServedGallery": ".served",
         "LocalGallery": ".local", "collection_for": ".store", "Hit": ".store",
         "BulkSummary": ".bulk"}

__all__ = ["Gallery", "ServedGallery", "LocalGallery", "default_location",
           "collection_for", "EdgeSettings", "GalleryError", "ModelMismatchError",
           "BulkSummary", "Candidate", "Enrollment", "Hit", "IdentifiedFace", "Identification", "Person",
           "PersonRefusal", "Refusal"]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
