"""face-gallery: the worker that owns the galleries. The embedded store admits one process, so
one TorchServe worker holds every gallery open and every client (web page, CLI, video) asks it
over the model's route, with the service's token, limits and error JSON.

The rules (which face of a photo is enrolled, re-enrolment, the search threshold sized to the
gallery, one candidate per person) are client.gallery.Gallery's own: each named gallery is a
Gallery whose "client" is this worker's pipeline (PipelineClient) instead of FaceClient over
HTTP. Each gallery is an embedded store folder `<gallery_root>/<name>`; with `gallery_url` a
Qdrant server holds the one gallery `default`. Every write is flushed before Gallery returns
(client/gallery/edge_store.py), so an enrolment that was answered survives a killed worker;
TorchServe hands a worker one request at a time, so a search never sees half an enrolment.

A gallery exists once an enrolment named it: the other actions on a name never enrolled into
answer 404 `unknown_gallery` (a mistyped name is told, not searched as an empty gallery), except
`default`, which is always there.

Faces embedded elsewhere (face-embed's answers: video frames, the photos of a bulk enrolment,
another gallery's points) are searched (`search`) and stored (`store`) only when they are this
model's: embeddings of two model versions are never compared, and a foreign version stored here
would make everyone enrolled stale. `stored` answers which photos are already kept, with their
content's sha256, so that a bulk enrolment resumes without sending them again.
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from client.errors import BadInputError, FaceClientError
from client.far import false_match_rate, one_in
from client.gallery import Gallery, ModelMismatchError
from client.gallery.enrolment import Embedded, check_name, keep
from client.gallery.store import collection_for, enrolled_name, point_id
from client.models import EmbeddingResult
from client.photos import sniff
from handler.gallery_protocol import DEFAULT_GALLERY, GALLERY_NAME, GalleryRequest
from handler.protocol import Photo, RequestError

EMBED_MODEL = "face-embed"
BLANK_PHOTO = cv2.imencode(".png", np.zeros((32, 32, 3), np.uint8))[1].tobytes()  # no face: the model's head only


def embed_label(label: str, model_name: str) -> str:
    """face-embed's label for these weights. A gallery files its faces under the label of the
    model that embedded them, and these are face-embed's embeddings: a gallery folder enrolled
    through face-embed (the client's own) is the same gallery here, and the other way round."""
    return EMBED_MODEL + label[len(model_name):] if label.startswith(model_name) else label


class PipelineClient:
    """What a Gallery calls to embed a photo (FaceClient.embed), answered by this worker's own
    detection, alignment and network: `embed_photo(bytes, name)` gives face-embed's JSON for
    one photo, labelled by `model_name` (this model). A photo the pipeline refuses raises
    BadInputError with its code, as the service would answer it, so Gallery lists it among an
    enrolment's refusals."""

    def __init__(self, embed_photo: Callable[[bytes, str], dict], model_name: str) -> None:
        self.embed_photo = embed_photo
        self.model_name = model_name
        self._served: EmbeddingResult | None = None

    def embed(self, photo: bytes | str | Path) -> EmbeddingResult:
        if isinstance(photo, (bytes, bytearray)):
            data, name = bytes(photo), "image"
        else:  # an enrolment's photo, written under its name (Gallery.enroll names photos by file)
            data, name = Path(photo).read_bytes(), Path(photo).name
        try:
            answer = self.embed_photo(data, name)
        except RequestError as error:
            raise BadInputError(error.message, status=error.status, code=error.code) from None
        answer["model"] = embed_label(answer["model"], self.model_name)
        if answer.get("aliases"):
            answer["aliases"] = [embed_label(alias, self.model_name) for alias in answer["aliases"]]
        return EmbeddingResult.model_validate(answer)

    def served(self) -> EmbeddingResult:
        """This worker's model as its embeddings carry it (label, earlier names, thresholds),
        from its answer for a blank photo: the same head every enrolment and search gets."""
        if self._served is None:
            self._served = self.embed(BLANK_PHOTO)
        return self._served

    def close(self) -> None:
        """Nothing to let go: the pipeline is the worker's."""


class Galleries:
    """The named galleries this worker owns, opened on first use and kept open."""

    def __init__(self, root: str | Path, url: str, client: PipelineClient, far_thresholds: Sequence[dict] | None,
                 max_galleries: int = 64) -> None:
        self.root = Path(root).expanduser()  # made on first use, owner-only
        self.max_galleries = max_galleries  # a client naming ever new galleries runs into this, not out of memory
        self.url = url
        self.client = client
        self.far_thresholds = list(far_thresholds or [])
        self.open: dict[str, Gallery] = {}

    def run(self, request: GalleryRequest) -> dict:
        """The action's answer as JSON; a client error as RequestError."""
        actions = {"identify": self.identify, "enroll": self.enroll, "remove": self.remove,
                   "people": self.people, "count": self.count, "search": self.search, "store": self.store,
                   "stored": self.stored}
        try:
            return {"gallery": request.gallery} | actions[request.action](request)
        except FaceClientError as error:  # a photo refused, bad name, model mismatch, store held elsewhere
            raise RequestError(error.code or "bad_request", error.message) from None

    def gallery(self, name: str, create: bool = False) -> Gallery:
        """The gallery `name`, opened on first use (`create`: made if it does not exist)."""
        if name not in self.open:
            self.open[name] = Gallery(self.location(name, create), client=self.client)
        return self.open[name]

    def location(self, name: str, create: bool) -> str | Path:
        if self.url:
            if name != DEFAULT_GALLERY:
                raise RequestError("unknown_gallery", f"gallery {name!r}: the Qdrant server at the "
                                   f"configured gallery_url holds one gallery, {DEFAULT_GALLERY!r}")
            return self.url
        if not self.open:  # the worker's first gallery
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            for left in self.root.glob(".enroll-*"):  # photos of an enrolment the last worker died in
                shutil.rmtree(left, ignore_errors=True)
        folder = self.root / name
        if folder.is_dir() or name == DEFAULT_GALLERY:
            return folder
        if not create:
            raise RequestError("unknown_gallery", f"no gallery {name!r}: nobody was ever enrolled in it")
        if len(self.names()) >= self.max_galleries:
            raise RequestError("too_many_galleries", f"gallery {name!r}: this server keeps at most "
                               f"{self.max_galleries} galleries (handler setting max_galleries)")
        return folder

    def names(self) -> list[str]:
        """The galleries in the root folder."""
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and GALLERY_NAME.fullmatch(p.name))

    # ------------------------------------------------------------------ actions

    def identify(self, request: GalleryRequest) -> dict:
        found = self.gallery(request.gallery).identify(request.photos[0].data, request.top_k, request.threshold,
                                                       false_identification_rate=request.false_identification_rate)
        return self.with_false_match_rates(found.model_dump(mode="json"))

    def search(self, request: GalleryRequest) -> dict:
        # the served model's thresholds, not the caller's: the search decides as identify does
        served = self.same_model(request.model)
        answer = EmbeddingResult.model_validate(served.model_dump(mode="json") | {"faces": request.faces})
        found = self.gallery(request.gallery).search(answer, request.top_k, request.threshold,
                                                     false_identification_rate=request.false_identification_rate)
        return self.with_false_match_rates(found.model_dump(mode="json"))

    def with_false_match_rates(self, answer: dict) -> dict:
        for face in answer["faces"]:
            # per comparison, as calibrated; the identity threshold already allows for the gallery's size
            rate = None if face["score"] is None else false_match_rate(face["score"], self.far_thresholds)
            face["false_match_rate"] = rate
            face["false_match_odds"] = None if rate is None else one_in(rate)
        return answer

    def store(self, request: GalleryRequest) -> dict:
        """Adds faces embedded elsewhere, by the rules of any enrolment (enrolment.keep): a person
        + photo name replaces its point, the person's other model versions are deleted."""
        served = self.same_model(request.model)
        people: dict[str, list[Embedded]] = {}
        for face in request.faces:
            people.setdefault(check_name(face["name"]), []).append(
                Embedded(photo=face["photo"], vector=[float(v) for v in face["embedding"]], sha256=face["sha256"]))
        gallery = self.gallery(request.gallery, create=True)
        replaced = keep(gallery.store, served.model, people, aliases=served.aliases, replace=False)
        return {"model": served.model, "stored": len(request.faces), "replaced": replaced}

    def stored(self, request: GalleryRequest) -> dict:
        """Whether each photo is stored in the served model's collection, and its sha256 (None:
        not stored, or stored without one)."""
        served, store = self.client.served(), self.gallery(request.gallery).store
        collections = store.collections()
        current = collection_for(enrolled_name(collections, served.model, served.aliases))
        ids = [point_id(check_name(item["name"]), item["photo"]) for item in request.lookups]
        found = store.stored(current, ids) if current in collections and ids else {}
        return {"model": served.model, "photos": [
            item | {"stored": id in found, "sha256": found[id].sha256 if id in found else None}
            for item, id in zip(request.lookups, ids, strict=True)]}

    def same_model(self, model: str | None) -> EmbeddingResult:
        """The served model's head, if `model` (the label sent with embeddings) is it or one of
        its earlier names; else 409 model_mismatch."""
        served = self.client.served()
        if model != served.model and model not in served.aliases:
            raise ModelMismatchError(f"the embeddings are {model}'s; this gallery keeps {served.model}'s. "
                                     "Embeddings of different versions cannot be compared: embed them with "
                                     "the served face-embed", stale={}, current=served.model)
        return served

    def enroll(self, request: GalleryRequest) -> dict:
        assert request.name is not None
        gallery = self.gallery(request.gallery, create=True)
        # Gallery names an enrolled photo by its file: named by its field and content, a refusal
        # says which photo it was, re-sending a photo with add=true replaces it instead of adding a
        # copy, and two photos never share a name. Written inside the owner-only root, in a folder
        # no gallery name can take.
        with tempfile.TemporaryDirectory(prefix=".enroll-", dir=self.root) as folder:
            paths = [written(Path(folder), photo) for photo in request.photos]
            enrollment: dict = gallery.enroll(request.name, paths, add=request.add).model_dump(mode="json")
        return enrollment

    def remove(self, request: GalleryRequest) -> dict:
        assert request.name is not None
        return {"name": request.name, "removed": self.gallery(request.gallery).remove(request.name)}

    def people(self, request: GalleryRequest) -> dict:
        return {"people": [person.model_dump(mode="json") for person in self.gallery(request.gallery).people()]}

    def count(self, request: GalleryRequest) -> dict:
        gallery = self.gallery(request.gallery)
        return {"people": gallery.count(), "faces": sum(len(person.photos) for person in gallery.people())}

    def close(self) -> None:
        for gallery in self.open.values():
            gallery.close()
        self.open.clear()


def written(folder: Path, photo: Photo) -> Path:
    """`<folder>/image_2-<12 hex of its sha256>.jpg`"""
    path = folder / f"{photo.name}-{hashlib.sha256(photo.data).hexdigest()[:12]}{sniff(photo.data)[0]}"
    path.write_bytes(photo.data)
    return path
