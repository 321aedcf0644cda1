"""A PeopleIndex and a gallery (client/gallery): groups of faces enrolled in the gallery are
named by it, and a group the user names is enrolled in it as a person, with the embeddings
the grouping used (the gallery's enrolment rules: client/gallery/enrolment.py)."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..models import EmbeddedFace, EmbeddingResult, FarThreshold
from .index import Face, Identify, PeopleIndex


def gallery_identify(gallery, index: PeopleIndex) -> Identify:
    """identify() for `index`: each face's person in `gallery` (a client.gallery.Gallery) at
    the gallery's own search threshold, None where nobody enrolled matches."""
    def identify(embeddings: np.ndarray) -> Sequence[str | None]:
        if index.model is None or not len(embeddings):
            return [None] * len(embeddings)
        table = [FarThreshold(far=row["far"], threshold=row["threshold"]) for row in index.far_thresholds]
        answer = EmbeddingResult(model=index.model, threshold=index.threshold, far_thresholds=table,
                                 faces=[EmbeddedFace(box=(0.0, 0.0, 0.0, 0.0), confidence=1.0,
                                                     embedding=[float(v) for v in row]) for row in embeddings])
        return [face.identity for face in gallery.search(answer, top_k=1).faces]

    return identify


def gallery_enrol(gallery, index: PeopleIndex) -> Callable[[str, list[Face], np.ndarray], None]:
    """enrol() for PeopleIndex.name: the group's embeddings stored in `gallery` as the person
    `name`, beside what it already holds for them (as `Gallery.enroll(add=True)`), each under
    its photo's file name and face id. The served gallery stores them through the service,
    which applies the same rules."""
    from ..gallery.enrolment import Embedded, check_name, keep
    from ..gallery.store import Face as StoredFace

    def enrol(name: str, faces: list[Face], embeddings: np.ndarray) -> None:
        if index.model is None:
            raise ValueError("the state has no model: nothing was embedded")
        embedded = [Embedded(photo=f"{Path(face.photo).name}#face{face.id}", vector=[float(v) for v in vector],
                             sha256=face.sha256) for face, vector in zip(faces, embeddings, strict=True)]
        if gallery.served:
            gallery.backend.put_faces([StoredFace(check_name(name), photo.photo, index.model, photo.vector,
                                                  photo.sha256) for photo in embedded])
        else:
            keep(gallery.store, index.model, {check_name(name): embedded}, replace=False)

    return enrol
