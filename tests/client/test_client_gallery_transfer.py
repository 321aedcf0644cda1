"""Moving a gallery: export / import files, push to another store, counts checked. Real Qdrant
Edge folders; the server side is qdrant-client's in-process engine (no Qdrant server here)."""
from __future__ import annotations

import gzip
import json
import shutil
import stat

import numpy as np
import pytest
from qdrant_client import QdrantClient

from client.cli import main as cli_main
from client.gallery import Gallery
from client.gallery.errors import GalleryError
from client.gallery.open_store import open_store
from client.gallery.server_store import ServerStore
from client.gallery.store import collection_for
from client.gallery.transfer import copy, export_file, import_file

pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")
CURRENT, OLDER = collection_for("face-embed:new"), collection_for("face-embed:old")


@pytest.fixture(scope="module")
def built_source(tmp_path_factory):
    """An embedded gallery: 2,500 embeddings of 250 people (two model versions). Built once:
    its 250 enrolments took longer than all of this module's tests."""
    folder = tmp_path_factory.mktemp("transfer") / "source"
    rng = np.random.default_rng(0)
    with open_store(folder) as store:
        store.ensure(CURRENT, 32)
        for person in range(250):
            vectors = rng.standard_normal((10, 32))
            store.add(CURRENT, f"p{person}", "face-embed:new", [f"{i}.jpg" for i in range(10)], vectors,
                      [f"h{person}-{i}" for i in range(10)])
        store.ensure(OLDER, 8)
        store.add(OLDER, "old", "face-embed:old", ["o.jpg"], rng.standard_normal((1, 8)))
    return folder


@pytest.fixture
def source(built_source, tmp_path):
    """A test's own copy of the gallery: opening a store may write to its folder."""
    return shutil.copytree(built_source, tmp_path / "source")


def test_export_import_round_trip(source, tmp_path):
    exported = tmp_path / "gallery.jsonl.gz"
    with Gallery(source) as gallery:
        assert gallery.export(exported) == {CURRENT: 2500, OLDER: 1}
        probe = next(gallery.store.faces(CURRENT, with_vectors=True))
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    with Gallery(tmp_path / "copy") as gallery:
        copied = gallery.store
        assert gallery.import_file(exported) == {CURRENT: 2500, OLDER: 1}
        assert copied.count(CURRENT) == 2500 and copied.dimension(OLDER) == 8 and gallery.count() == 251
        hit = copied.search(CURRENT, probe.vector, 1)[0]
        assert hit.name == probe.name and hit.score == pytest.approx(1.0, abs=1e-5)
        assert copied.stored(CURRENT, [probe.id])[probe.id].sha256 == probe.sha256
        assert gallery.import_file(exported) == {CURRENT: 2500, OLDER: 1}  # again: same points, no duplicates
        assert copied.count(CURRENT) == 2500


def test_push_to_a_folder(source, tmp_path):
    with Gallery(source) as gallery:
        assert gallery.push(tmp_path / "pushed") == {CURRENT: 2500, OLDER: 1}
        people = gallery.people()
    with Gallery(tmp_path / "pushed") as pushed:
        assert pushed.people() == people and pushed.count() == 251


def test_push_to_a_server_and_back(source, tmp_path):
    server = ServerStore("http://stand-in", client=QdrantClient(location=":memory:"))
    with open_store(source) as store:
        assert copy(store, server) == {CURRENT: 2500, OLDER: 1}
    assert server.count(CURRENT) == 2500 and server.search(CURRENT, [1.0] * 32, 3)
    with open_store(tmp_path / "back") as back:
        assert copy(server, back) == {CURRENT: 2500, OLDER: 1}
        assert {p["name"] for p in back.points(OLDER)} == {"old"}
    server.close()


def test_a_file_that_is_not_an_export_is_refused(tmp_path):
    bad = tmp_path / "bad.gz"
    with gzip.open(bad, "wt") as out:
        out.write(json.dumps({"format": "something else"}) + "\n")
    with open_store(tmp_path / "g") as store, pytest.raises(GalleryError) as raised:
        import_file(bad, store)
    assert raised.value.code == "bad_export"


def test_truncated_export_fails_the_count_check(source, tmp_path):
    exported, cut = tmp_path / "full.gz", tmp_path / "cut.gz"
    with open_store(source) as store:
        export_file(store, exported)
    with gzip.open(exported, "rt") as full, gzip.open(cut, "wt") as out:
        out.writelines(line for _, line in zip(range(1001), full, strict=False))  # header + 1,000 of 2,501 points
    with open_store(tmp_path / "g") as store, pytest.raises(GalleryError) as raised:
        import_file(cut, store)
    assert raised.value.code == "count_mismatch" and "2500" in str(raised.value)


def test_cli_export_import_push(source, tmp_path, capsys):
    exported = tmp_path / "g.gz"
    assert cli_main(["gallery", "export", str(exported), "--gallery", str(source)]) == 0
    assert "exported 2501 embedding(s) in 2 collection(s)" in capsys.readouterr().out
    assert cli_main(["gallery", "import", str(exported), "--gallery", str(tmp_path / "imported")]) == 0
    assert "imported 2501 embedding(s)" in capsys.readouterr().out
    # push SOURCE: SOURCE's people into the gallery (here --gallery; by default the served one)
    assert cli_main(["gallery", "push", str(tmp_path / "imported"), "--gallery", str(tmp_path / "pushed")]) == 0
    assert "copied 2501 embedding(s) in 2 collection(s)" in capsys.readouterr().out
    assert cli_main(["gallery", "list", "--json", "--gallery", str(tmp_path / "pushed")]) == 0
    people = json.loads(capsys.readouterr().out)["people"]
    assert len(people) == 251 and sum(len(p["photos"]) for p in people) == 2501
