"""The gallery against the REAL service (TorchServe, face-embed) and the REAL embedded store
(Qdrant Edge in a temporary folder). People: skimage's astronaut and cameraman.
Skipped without Java (the `torchserve_server` fixture)."""
from __future__ import annotations

import json
import stat
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from client import FaceClient
from client.cli import main as cli_main
from client.gallery import Gallery, ModelMismatchError
from client.gallery.store import collection_for

pytestmark = pytest.mark.integration

skimage_data = pytest.importorskip("skimage.data")
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client(torchserve_server):
    with FaceClient(torchserve_server.base_url, token=torchserve_server.token, timeout=120) as face_client:
        yield face_client


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """astronaut.png, astronaut_small.jpg (mirrored, 0.6x), camera.png, cat.png (no face),
    pair.png (two astronauts side by side: two similar faces), group.png (astronaut + camera)."""
    folder = tmp_path_factory.mktemp("photos")
    astronaut = Image.fromarray(skimage_data.astronaut())
    camera = Image.fromarray(skimage_data.camera()).convert("RGB")
    astronaut.save(folder / "astronaut.png")
    astronaut.transpose(Image.FLIP_LEFT_RIGHT).resize((307, 307)).save(folder / "astronaut_small.jpg", quality=90)
    camera.save(folder / "camera.png")
    Image.fromarray(skimage_data.chelsea()).save(folder / "cat.png")
    for name, right in (("pair.png", astronaut), ("group.png", camera)):
        canvas = Image.new("RGB", (1024, 512))
        canvas.paste(astronaut, (0, 0))
        canvas.paste(right, (512, 0))
        canvas.save(folder / name)
    (folder / "text.jpg").write_bytes(b"this is not a photo")
    return folder


@pytest.fixture
def gallery(tmp_path, client):
    with Gallery(tmp_path / "gallery", client) as opened:
        yield opened


def files_bytes(folder) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_enrol_and_identify(gallery, photos):
    enrolled = gallery.enroll("Astronaut", [photos / "astronaut.png"])
    assert enrolled.enrolled == ["astronaut.png"] and not enrolled.refused
    assert enrolled.model.startswith("face-embed:")
    gallery.enroll("Cameraman", [photos / "camera.png"])
    assert gallery.count() == 2 and [p.name for p in gallery.people()] == ["Astronaut", "Cameraman"]

    result = gallery.identify(photos / "astronaut_small.jpg")  # another photo: mirrored, smaller
    assert result.embeddings == 2 and -1 <= result.threshold <= 1 and result.model == enrolled.model
    (face,) = result.faces
    assert face.identity == "Astronaut" and face.score >= result.threshold
    assert [c.name for c in face.candidates] == ["Astronaut", "Cameraman"]  # one per person, best first
    assert face.candidates[0].photo == "astronaut.png"

    group = gallery.identify(photos / "group.png", top_k=1)
    assert sorted(f.identity for f in group.faces) == ["Astronaut", "Cameraman"]
    assert all(len(f.candidates) == 1 for f in group.faces)
    left = min(group.faces, key=lambda f: f.box[0])
    assert left.identity == "Astronaut" and left.box[0] < 512


def test_threshold_is_the_servers_and_can_be_overridden(gallery, photos, client):
    gallery.enroll("Astronaut", [photos / "astronaut.png"])
    served = client.verify(photos / "astronaut.png", [photos / "camera.png"]).threshold
    assert gallery.identify(photos / "astronaut_small.jpg").threshold == pytest.approx(served)
    strict = gallery.identify(photos / "astronaut_small.jpg", threshold=0.9999)
    assert strict.threshold == 0.9999 and strict.faces[0].identity is None


def test_a_stranger_is_unknown(gallery, photos):
    gallery.enroll("Astronaut", [photos / "astronaut.png"])
    (face,) = gallery.identify(photos / "camera.png").faces
    assert face.identity is None
    assert face.candidates[0].name == "Astronaut" and face.score < gallery.identify(photos / "camera.png").threshold
    assert gallery.identify(photos / "cat.png").faces == []


def test_bad_photos_are_refused_one_by_one(gallery, photos):
    result = gallery.enroll("Astronaut", [photos / "cat.png", photos / "astronaut.png", photos / "pair.png",
                                          photos / "text.jpg", photos / "missing.jpg"])
    assert result.enrolled == ["astronaut.png"]
    reasons = {r.photo: r.code for r in result.refused}
    assert reasons == {"cat.png": "no_face", "pair.png": "several_faces", "text.jpg": "not_an_image",
                       "missing.jpg": reasons["missing.jpg"]}
    assert all(r.reason for r in result.refused)
    nothing = gallery.enroll("Cat", [photos / "cat.png"])
    assert nothing.enrolled == [] and nothing.model is None and gallery.count() == 1


def test_one_photo_is_enrolled_as_a_list_of_one(gallery, photos):
    one = gallery.enroll("Astronaut", photos / "astronaut.png")
    assert one.enrolled == ["astronaut.png"] and gallery.count() == 1
    as_bytes = gallery.enroll("Cameraman", (photos / "camera.png").read_bytes())
    assert as_bytes.enrolled == ["photo_1"] and gallery.count() == 2


def test_re_enrolment_replaces_unless_adding(gallery, photos):
    gallery.enroll("Astronaut", [photos / "astronaut.png", photos / "astronaut_small.jpg"])
    again = gallery.enroll("Astronaut", [photos / "astronaut_small.jpg"])
    assert again.replaced == 2
    assert [p.photos for p in gallery.people()] == [["astronaut_small.jpg"]]
    gallery.enroll("Astronaut", [photos / "astronaut.png"], add=True)
    assert [p.photos for p in gallery.people()] == [["astronaut.png", "astronaut_small.jpg"]]
    gallery.enroll("Astronaut", [photos / "astronaut.png"], add=True)  # the same photo again: no duplicate
    assert [p.photos for p in gallery.people()] == [["astronaut.png", "astronaut_small.jpg"]]


def test_remove_deletes_from_search_and_from_the_files(tmp_path, client, photos):
    folder = tmp_path / "gallery"
    name = "Zebulon Quartzfield"
    with Gallery(folder, client) as gallery:
        gallery.enroll(name, [photos / "astronaut.png"])
        gallery.enroll("Cameraman", [photos / "camera.png"])
        vector = client.embed(photos / "astronaut.png").faces[0].embedding
        collection = collection_for(client.embed(photos / "camera.png").model)
        assert gallery.store.search(collection, vector, 5)[0].name == name
    assert name.encode() in files_bytes(folder)  # the check below can see a name

    with Gallery(folder, client) as gallery:
        assert gallery.remove(name) == 1
        assert [hit.name for hit in gallery.store.search(collection, vector, 5)] == ["Cameraman"]
        assert gallery.count() == 1
        assert [p.name for p in gallery.people()] == ["Cameraman"]
        assert gallery.identify(photos / "astronaut.png").faces[0].identity is None
        assert gallery.remove(name) == 0
    assert name.encode() not in files_bytes(folder)
    assert b"Cameraman" in files_bytes(folder)


def test_store_files_are_owner_only(gallery, photos):
    gallery.enroll("Astronaut", [photos / "astronaut.png"])
    folder = gallery.store.path
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    entries = list(folder.rglob("*"))
    assert any(p.name == "edge_config.json" for p in entries) and any(p.name.endswith(".mmap") for p in entries)
    for entry in entries:
        assert stat.S_IMODE(entry.stat().st_mode) == (0o700 if entry.is_dir() else 0o600), entry


def test_another_model_version_is_never_searched(gallery, photos, client):
    """People enrolled with an older model (written to the store as such) block identification
    with a typed error until they are enrolled again with the served model."""
    gallery.enroll("Astronaut", [photos / "astronaut.png"])
    old_model = "face-embed:an-older-version"
    old = collection_for(old_model)
    rng = np.random.default_rng(0)
    gallery.store.ensure(old, 64)
    gallery.store.add(old, "Cameraman", old_model, ["camera.png"], rng.standard_normal((1, 64)).tolist())
    with pytest.raises(ModelMismatchError) as raised:
        gallery.identify(photos / "camera.png")
    assert raised.value.stale == {"Cameraman": old_model} and "enrol them again" in str(raised.value)
    assert {p.model for p in gallery.people()} == {old_model, raised.value.current}

    again = gallery.enroll("Cameraman", [photos / "camera.png"])
    assert again.replaced == 1 and old not in gallery.store.collections()
    assert gallery.identify(photos / "camera.png").faces[0].identity == "Cameraman"


def test_people_enrolled_under_the_weights_dated_name_are_still_identified(gallery, photos, client):
    """The committed weights were exported under a dated name, before versions named the
    tensors: the server sends that name as an alias, and people enrolled under it are still
    searched, never stale, and enrolled beside."""
    answer = client.embed(photos / "astronaut.png")
    evaluated = json.loads((REPO / "reports" / "metrics.json").read_text())["model"]
    assert f"face-embed:{evaluated}" in [answer.model, *answer.aliases]  # the evaluated weights are served
    if not answer.aliases:
        pytest.skip("the served weights were exported under their content version: no earlier name")
    (earlier,) = answer.aliases
    old = collection_for(earlier)
    gallery.store.ensure(old, len(answer.faces[0].embedding))
    gallery.store.add(old, "Astronaut", earlier, ["astronaut.png"], [answer.faces[0].embedding])

    found = gallery.identify(photos / "astronaut_small.jpg")
    assert found.model == answer.model and found.embeddings == 1
    assert found.faces[0].identity == "Astronaut"
    gallery.enroll("Cameraman", [photos / "camera.png"])
    assert gallery.store.collections() == [old]
    assert sorted(f.identity for f in gallery.identify(photos / "group.png").faces) == ["Astronaut", "Cameraman"]


def test_cli(tmp_path, torchserve_server, photos, capsys):
    server = ["--url", torchserve_server.base_url, "--token", torchserve_server.token,
              "--gallery", str(tmp_path / "gallery")]
    people = tmp_path / "people"
    for name, photo in (("astronaut", "astronaut.png"), ("cameraman", "camera.png")):
        (people / name).mkdir(parents=True)
        (people / name / photo).write_bytes((photos / photo).read_bytes())
    summary = tmp_path / "summary.json"
    assert cli_main(["gallery", "enroll-all", str(people), "--summary", str(summary), *server]) == 0
    assert "2 photo(s) enrolled, 0 already enrolled, 0 refused" in capsys.readouterr().out
    assert json.loads(summary.read_text())["enrolled"] == 2

    assert cli_main(["gallery", "enroll", "cat", str(photos / "cat.png"), *server]) == 5
    assert "no face found" in capsys.readouterr().err

    assert cli_main(["gallery", "identify", str(photos / "group.png"), "--json", *server]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert sorted(f["identity"] for f in answer["faces"]) == ["astronaut", "cameraman"]
    assert -1 <= answer["threshold"] <= 1 and answer["model"].startswith("face-embed:")

    assert cli_main(["gallery", "remove", "astronaut", *server]) == 0
    assert "1 embedding(s) deleted" in capsys.readouterr().out
    assert cli_main(["gallery", "list", "--json", *server]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in listed["people"]] == ["cameraman"]
    assert cli_main(["gallery", "remove", "astronaut", *server]) == 1
