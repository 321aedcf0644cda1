"""A model's earlier names (the server's `aliases`: the same weights, named before versions were
content hashes) keep the gallery enrolled under them: searched, enrolled into, never stale.
The real embedded store; the service's face-embed answers built by hand."""
from __future__ import annotations

import numpy as np
import pytest

from client.gallery import Gallery, ModelMismatchError
from client.gallery.store import collection_for, enrolled_name
from client.models import EmbeddedFace, EmbeddingBatch, EmbeddingResult, PhotoEmbedding

DATED = "face-embed:sface-simclr-arcface-20261201"  # what galleries were enrolled under
CONTENT = "face-embed:sface-simclr-arcface-7dfc44b4"  # the same weights, named by their tensors
PEOPLE = ("Ada", "Bob", "Cy")


def unit(seed: int) -> list[float]:
    vector = np.random.default_rng(seed).standard_normal(16)
    return (vector / np.linalg.norm(vector)).tolist()


def face(embedding: list[float]) -> EmbeddedFace:
    return EmbeddedFace(box=(10.0, 10.0, 80.0, 96.0), confidence=0.99, embedding=embedding)


class Service:
    """face-embed as a server with `model` and `aliases` answers it: the photo `<name>.jpg` (or
    its bytes) holds one face, that person's embedding."""

    def __init__(self, model: str, aliases: tuple[str, ...] = ()) -> None:
        self.model, self.aliases = model, list(aliases)

    def embedding(self, photo: str | bytes) -> list[float]:
        name = photo.decode() if isinstance(photo, bytes) else photo.removesuffix(".jpg")
        return unit(PEOPLE.index(name.split("_")[0]))

    def answer(self, embedding: list[float]) -> EmbeddingResult:
        return EmbeddingResult(model=self.model, aliases=self.aliases, faces=[face(embedding)], threshold=0.5)

    def embed(self, photo: str) -> EmbeddingResult:
        return self.answer(self.embedding(photo))

    def embed_many(self, photos: list[bytes]) -> EmbeddingBatch:
        return EmbeddingBatch(model=self.model, aliases=self.aliases, threshold=0.5, photos=[
            PhotoEmbedding(name=f"image_{i}", faces=[face(self.embedding(photo))])
            for i, photo in enumerate(photos, 1)])

    def close(self) -> None:
        pass


@pytest.fixture
def enrolled_under_the_dated_name(tmp_path):
    """Ada and Bob, enrolled while the server called its weights by the dated name."""
    with Gallery(tmp_path / "gallery", Service(DATED)) as gallery:
        for name in ("Ada", "Bob"):
            gallery.enroll(name, [f"{name}.jpg"])
    return tmp_path / "gallery"


def test_the_gallery_keeps_the_name_it_holds_embeddings_under():
    dated, content = collection_for(DATED), collection_for(CONTENT)
    assert enrolled_name([], CONTENT, [DATED]) == CONTENT  # a new gallery: the served name
    assert enrolled_name([dated], CONTENT, [DATED]) == DATED
    assert enrolled_name([dated, content], CONTENT, [DATED]) == CONTENT  # its own collection first
    assert enrolled_name([dated], CONTENT) == CONTENT  # not an alias: another model


def test_people_enrolled_under_an_alias_are_searched_and_not_stale(enrolled_under_the_dated_name):
    renamed = Service(CONTENT, (DATED,))
    with Gallery(enrolled_under_the_dated_name, renamed) as gallery:
        gallery.check_model(CONTENT, [DATED])  # nobody is stale
        found = gallery.identify("Ada_2.jpg")
        assert found.model == CONTENT and found.embeddings == 2
        assert found.faces[0].identity == "Ada" and found.faces[0].score == pytest.approx(1.0)
        assert [c.name for c in found.faces[0].candidates] == ["Ada", "Bob"]

    # the same answer without the alias: another model, whose gallery must be enrolled again
    with Gallery(enrolled_under_the_dated_name, Service(CONTENT)) as gallery:
        with pytest.raises(ModelMismatchError) as raised:
            gallery.identify("Ada_2.jpg")
        assert raised.value.stale == {"Ada": DATED, "Bob": DATED}


def test_enrolling_under_the_new_name_joins_the_alias_collection(enrolled_under_the_dated_name):
    with Gallery(enrolled_under_the_dated_name, Service(CONTENT, (DATED,))) as gallery:
        enrolled = gallery.enroll("Cy", ["Cy.jpg"])
        assert enrolled.model == CONTENT and enrolled.replaced == 0
        again = gallery.enroll("Ada", ["Ada_3.jpg"])  # replaces her photo, in the same collection
        assert again.replaced == 1
        assert gallery.store.collections() == [collection_for(DATED)]
        assert {(p.name, p.model) for p in gallery.people()} == {("Ada", DATED), ("Bob", DATED), ("Cy", DATED)}
        assert gallery.identify("Cy_2.jpg").faces[0].identity == "Cy"
        assert gallery.identify("Ada_4.jpg").faces[0].candidates[0].photo == "Ada_3.jpg"


def test_bulk_enrolment_resumes_in_the_alias_collection(tmp_path):
    """Photos enrolled by bulk under the dated name are not embedded again once the server
    calls its weights by their content version."""
    root = tmp_path / "people"
    for name in PEOPLE[:2]:
        (root / name).mkdir(parents=True)
        (root / name / "1.jpg").write_bytes(name.encode())
    with Gallery(tmp_path / "gallery", Service(DATED)) as gallery:
        assert gallery.enroll_folder(root).enrolled == 2
    (root / "Cy").mkdir()
    (root / "Cy" / "1.jpg").write_bytes(b"Cy")
    renamed = Service(CONTENT, (DATED,))
    with Gallery(tmp_path / "gallery", renamed) as gallery:
        summary = gallery.enroll_folder(root)
        assert (summary.skipped, summary.enrolled) == (2, 1)
        assert gallery.store.collections() == [collection_for(DATED)]
        assert gallery.identify("Cy_2.jpg").faces[0].identity == "Cy"
