"""Gallery: enrol people from photos, identify the faces in a photo among them (1:N).

    from client.gallery import Gallery
    with Gallery() as gallery:                    # the service's gallery `default`
        gallery.enroll("Ada", ["ada1.jpg", "ada2.jpg"])
        print(gallery.identify("party.jpg").identities)   # ["Ada", None, ...]; None: unknown

One interface, two back-ends (as qdrant-client's QdrantClient over a local folder or a server):

- the served gallery (served.py), the default: `Gallery()`, `Gallery(name="staff")`. The
  service (TorchServe model face-gallery) keeps the galleries; every client (the web page, the
  CLI, video, curl) uses the same ones at once, through FaceClient's address and token.
- a store opened in this process (local.py): `Gallery(folder)` (the embedded store, which
  admits one process: offline, single-process use) or `Gallery("http://qdrant:6333")` (a
  Qdrant server). $FACE_GALLERY set to a folder or URL keeps meaning that store.

Nothing here imports torch.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from ..client import FaceClient
from ..models import EmbeddingResult
from ..photos import PhotoLike
from . import transfer
from .bulk import BATCH, PER_REQUEST, WORKERS, BulkSummary
from .edge_settings import EdgeSettings
from .errors import GalleryError, ModelMismatchError
from .faces import SIMILAR_AREA
from .local import LocalGallery
from .results import Candidate, Enrollment, Identification, IdentifiedFace, Person, Refusal
from .served import DEFAULT_GALLERY, RESTART_WAIT_S, ServedGallery
from .store import GalleryStore
from .threshold import DEFAULT_FALSE_IDENTIFICATION_RATE

__all__ = ["Gallery", "default_location", "GalleryError", "ModelMismatchError", "Candidate",
           "Enrollment", "IdentifiedFace", "Identification", "Person", "Refusal"]

GALLERY_ENV = "FACE_GALLERY"


def default_location() -> str:
    """The folder of the gallery in this process, for offline use (`Gallery(default_location())`):
    $FACE_GALLERY (a folder or a Qdrant URL), else ~/.local/share/face-verify/gallery
    ($XDG_DATA_HOME respected), where galleries were kept before the service kept them."""
    if os.environ.get(GALLERY_ENV):
        return os.environ[GALLERY_ENV]
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return str(data_home / "face-verify" / "gallery")


class Gallery:
    """
    >>> gallery = Gallery()                  # the service's gallery `default`; Gallery(name="staff")
    >>> gallery = Gallery("gallery/")        # a folder opened in this process (offline)
    >>> gallery.enroll("Ada", ["ada1.jpg", "ada2.jpg"]).refused
    >>> [face.identity for face in gallery.identify("party.jpg").faces]   # None: unknown
    """

    backend: LocalGallery | ServedGallery

    def __init__(self, location: str | os.PathLike | None = None, client: FaceClient | None = None, *,
                 name: str | None = None, similar_area: float = SIMILAR_AREA, shards: int | None = None,
                 false_identification_rate: float = DEFAULT_FALSE_IDENTIFICATION_RATE,
                 settings: EdgeSettings | None = None, restart_wait: float = RESTART_WAIT_S) -> None:
        """location: a folder (the embedded store) or a Qdrant server URL, opened in this
        process; default $FACE_GALLERY if set and no `name` is given, else the served gallery
        `name` (default `default`). client: the service's FaceClient (default FaceClient(), created on first
        use). similar_area: a second face at least this share of the largest one's area makes
        a photo ambiguous to enrol (faces.py). shards: `shard_number` of collections created on
        a Qdrant cluster. false_identification_rate: the share of strangers' faces that may be
        named as someone enrolled; it sets identify's default threshold. settings: the embedded
        store's index and search settings. restart_wait: seconds a served call keeps retrying
        while the service's gallery worker restarts. The served gallery applies the service's
        similar_area, and has no shards or settings here."""
        # an explicit name is the served gallery's, whatever $FACE_GALLERY says
        where = location or (os.environ.get(GALLERY_ENV) if name is None else None) or None
        if where is not None:
            if name is not None:
                raise GalleryError("name= picks a served gallery; a folder or URL is a gallery of its own",
                                   code="bad_location")
            self.backend = LocalGallery(where, client, similar_area=similar_area, shards=shards,
                                        false_identification_rate=false_identification_rate, settings=settings)
            return
        if shards is not None or settings is not None:
            raise GalleryError("shards and settings are for a store opened in this process (Gallery(folder_or_url))",
                               code="not_supported")
        self.backend = ServedGallery(client, name or DEFAULT_GALLERY, restart_wait=restart_wait,
                                     similar_area=similar_area, false_identification_rate=false_identification_rate)

    @property
    def served(self) -> bool:
        """True: the service keeps this gallery; False: this process opened its store."""
        return isinstance(self.backend, ServedGallery)

    @property
    def location(self) -> str:
        """The folder or URL; for the served gallery, the service's route and the gallery's name."""
        return self.backend.location

    @property
    def store(self) -> GalleryStore:
        """The vector store this process opened (not for the served gallery: the service's)."""
        if isinstance(self.backend, ServedGallery):
            raise GalleryError("the served gallery's store is the service's; open a folder for a store "
                               "(Gallery(folder))", code="not_supported")
        return self.backend.store

    @property
    def settings(self) -> EdgeSettings:
        if isinstance(self.backend, ServedGallery):
            raise GalleryError("the served gallery's settings are the service's", code="not_supported")
        return self.backend.settings

    @property
    def client(self) -> FaceClient:
        return self.backend.client

    # ------------------------------------------------------------------ enrol / remove

    def enroll(self, name: str, photos: PhotoLike | Iterable[PhotoLike], *, add: bool = False) -> Enrollment:
        """One embedding per usable photo (its largest face); `photos`: one photo or several.
        Replaces the person's earlier embeddings unless `add`; embeddings of another model
        version are always replaced. Unusable photos are listed in `.refused` with the reason;
        if none is usable the gallery is left as it was. The rules: enrolment.py. Served: the
        photos are sent to the service, and the answer comes once they are on disk."""
        return self.backend.enroll(name, photos, add=add)

    def enroll_folder(self, people_dir: str | os.PathLike, *, workers: int = WORKERS, per_request: int = PER_REQUEST,
                      batch: int = BATCH, progress: Callable[[int, int], None] | None = None) -> BulkSummary:
        """Enrols every `people_dir/<name>/` folder as the person <name>, with the rules of
        `enroll` (add=True: photos no longer in a folder stay). Resumable: a photo already
        stored for that person under that file name with the same content is skipped. Each
        face-embed request carries `per_request` photos, `workers` requests are in flight,
        and embeddings are stored (flushed) `batch` photos at a time. `progress(done, total)`
        (photos) before the first batch and after each (bulk.py)."""
        return self.backend.enroll_folder(people_dir, workers=workers, per_request=per_request, batch=batch,
                                          progress=progress)

    def remove(self, name: str) -> int:
        """Deletes every embedding of the person, from the store's files too; returns how
        many were deleted (0: not enrolled)."""
        return self.backend.remove(name)

    # ------------------------------------------------------------------ move

    def export(self, path: str | os.PathLike) -> dict[str, int]:
        """Writes the whole gallery to a gzipped JSON-lines file, owner-only (it holds
        biometric data); embeddings written per collection, counts checked (transfer.py).
        Not for the served gallery (GalleryError not_supported): its embeddings stay in the
        service."""
        return self.backend.export(path)

    def import_file(self, path: str | os.PathLike) -> dict[str, int]:
        """Adds a file written by `export`; embeddings copied per collection, counts checked."""
        return self.backend.import_file(path)

    def push(self, destination: str | os.PathLike | Gallery, *, shards: int | None = None) -> dict[str, int]:
        """Copies this gallery (a store opened here) into `destination`: another store (a
        Qdrant server URL or a folder; `shards` for collections created on a cluster) or a
        served Gallery (`Gallery(folder).push(Gallery())`); embeddings copied per collection,
        counts checked. Another model version than the served one is refused there."""
        if isinstance(self.backend, ServedGallery):
            return self.backend.push(destination)
        if isinstance(destination, Gallery):
            if isinstance(destination.backend, ServedGallery):
                return self.backend.push(destination.backend)
            return transfer.copy(self.backend.store, destination.backend.store)  # already open: not again
        return self.backend.push(destination, shards=shards)

    # ------------------------------------------------------------------ read

    def people(self) -> list[Person]:
        """Everyone enrolled, by name, with their photo names and model version."""
        return self.backend.people()

    def count(self) -> int:
        """People enrolled."""
        return self.backend.count()

    # ------------------------------------------------------------------ identify

    def identify(self, photo: PhotoLike, top_k: int = 3, threshold: float | None = None, *,
                 false_identification_rate: float | None = None) -> Identification:
        """Every face in the photo with its `top_k` best candidates (one per person). A face's
        identity is the best candidate if its score >= threshold, else None (unknown). The
        default threshold grows with the gallery (`threshold.search_threshold`: the
        server's calibrated thresholds, for `false_identification_rate`: this call's, else the
        gallery's). Raises
        ModelMismatchError while the gallery holds people enrolled with another model version
        than the server's."""
        return self.backend.identify(photo, top_k, threshold, false_identification_rate=false_identification_rate)

    def search(self, answer: EmbeddingResult, top_k: int = 3, threshold: float | None = None, *,
               false_identification_rate: float | None = None) -> Identification:
        """identify() for faces already embedded by the service (its face-embed answer), e.g.
        one answer per video frame: served, the embeddings are sent, not the photo."""
        return self.backend.search(answer, top_k, threshold, false_identification_rate=false_identification_rate)

    def check_model(self, model: str, aliases: Iterable[str] = ()) -> None:
        """Raises ModelMismatchError if anyone is enrolled with another model version than
        `model` (the `aliases` the server sends are earlier names of it, not other versions).
        The served gallery checks its own, with every identify (409 model_mismatch)."""
        if isinstance(self.backend, ServedGallery):
            raise GalleryError("the service checks the served gallery's model versions itself", code="not_supported")
        self.backend.check_model(model, aliases)

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
