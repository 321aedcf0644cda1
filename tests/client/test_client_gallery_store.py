"""The gallery's vector store, both back-ends, against the real libraries: Qdrant Edge in a
temporary folder (the embedded store), and the server back-end's qdrant-client code against
qdrant-client's in-process engine (no Qdrant server runs here: the same client calls, no
network). No face service needed."""
from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

from client.gallery.edge_settings import EdgeSettings
from client.gallery.edge_store import EdgeStore
from client.gallery.errors import GalleryError
from client.gallery.open_store import open_store
from client.gallery.server_store import ServerStore
from client.gallery.store import Face, Hit, collection_for, point_id

pytestmark = pytest.mark.filterwarnings("ignore:Payload indexes have no effect:UserWarning")
REPO = Path(__file__).resolve().parents[2]
COLLECTION = collection_for("face-embed:test")
DIM = 16


def unit(seed: int, n: int = 1) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def files_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


@pytest.fixture(params=["edge", "server"])
def store(request, tmp_path):
    if request.param == "edge":
        opened = open_store(tmp_path / "gallery")
    else:
        opened = ServerStore("http://stand-in", client=QdrantClient(location=":memory:"))
    with opened:
        opened.ensure(COLLECTION, DIM)
        yield opened


def test_open_store_picks_the_back_end(tmp_path):
    with open_store(tmp_path / "g") as embedded:
        assert isinstance(embedded, EdgeStore) and embedded.embedded
    assert not ServerStore.embedded


def test_search_gives_one_hit_per_person_best_first(store):
    ada, bob = unit(1, 6), unit(2, 1)
    store.add(COLLECTION, "Ada", "m", [f"ada{i}.jpg" for i in range(6)], ada)
    store.add(COLLECTION, "Bob", "m", ["bob.jpg"], bob)
    assert store.count(COLLECTION) == 7 and store.count(COLLECTION, "Ada") == 6
    hits = store.search(COLLECTION, ada[3].tolist(), 2)
    assert all(isinstance(hit, Hit) for hit in hits)
    assert [h.name for h in hits] == ["Ada", "Bob"]  # Ada's six photos fill no more than one place
    assert hits[0].photo == "ada3.jpg" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert hits[1].score < hits[0].score
    assert [h.name for h in store.search(COLLECTION, ada[3].tolist(), 5)] == ["Ada", "Bob"]  # only two exist


def test_names_counts_each_persons_points_without_reading_them(store):
    store.add(COLLECTION, "Ada", "m", ["a1.jpg", "a2.jpg", "a3.jpg"], unit(1, 3))
    store.add(COLLECTION, "Bob", "m", ["b.jpg"], unit(2))
    assert store.names(COLLECTION) == {"Ada": 3, "Bob": 1}
    store.delete_person("Ada")
    assert store.names(COLLECTION) == {"Bob": 1}
    store.delete_person("Bob")
    assert store.names(COLLECTION) == {}


def test_a_person_filling_the_first_answer_is_left_out_of_the_next(tmp_path):
    """The embedded store asks for a few points per person wanted; when one person's photos fill
    them all, it asks again without that person."""
    ada = unit(1) + 0.05 * unit(5, 20)  # 20 photos close together: the first 6 points are all Ada's
    with open_store(tmp_path / "gallery", settings=EdgeSettings(points_per_person=2)) as store:
        store.ensure(COLLECTION, DIM)
        store.add(COLLECTION, "Ada", "m", [f"ada{i}.jpg" for i in range(20)], ada)
        store.add(COLLECTION, "Bob", "m", ["bob.jpg"], unit(2))
        store.add(COLLECTION, "Cy", "m", ["cy.jpg"], unit(3))
        hits = store.search(COLLECTION, ada[0].tolist(), 3)
        assert sorted(h.name for h in hits) == ["Ada", "Bob", "Cy"] and hits[0].name == "Ada"
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        assert [h.name for h in store.search(COLLECTION, ada[0].tolist(), 9)] == [h.name for h in hits]  # all there are


def test_re_adding_a_photo_replaces_it_and_stored_finds_it(store):
    store.add(COLLECTION, "Ada", "m", ["a.jpg"], unit(1), ["hash1"])
    store.add(COLLECTION, "Ada", "m", ["a.jpg"], unit(2), ["hash2"])
    assert store.count(COLLECTION) == 1
    found = store.stored(COLLECTION, [point_id("Ada", "a.jpg"), point_id("Ada", "b.jpg")])
    assert list(found) == [point_id("Ada", "a.jpg")] and found[point_id("Ada", "a.jpg")].sha256 == "hash2"
    assert store.stored(collection_for("never created"), [point_id("Ada", "a.jpg")]) == {}


def test_dimension_is_checked_and_faces_round_trip(store):
    with pytest.raises(GalleryError) as raised:
        store.ensure(COLLECTION, DIM + 1)
    assert raised.value.code == "dimension_mismatch"
    assert store.dimension(COLLECTION) == DIM and store.dimension(collection_for("other")) is None
    vector = unit(3)[0]
    store.put(COLLECTION, [Face("Ada", "a.jpg", "m", vector.tolist(), "h")])
    (face,) = store.faces(COLLECTION, with_vectors=True)
    assert (face.name, face.photo, face.model, face.sha256) == ("Ada", "a.jpg", "m", "h")
    assert np.allclose(face.vector, vector, atol=1e-6)
    assert list(store.points(COLLECTION)) == [{"name": "Ada", "photo": "a.jpg", "model": "m", "sha256": "h"}]
    assert store.model_of(COLLECTION) == "m"


def test_delete_person_and_drop_empty(store):
    store.add(COLLECTION, "Ada", "m", ["a1.jpg", "a2.jpg"], unit(1, 2))
    store.add(COLLECTION, "Bob", "m", ["b.jpg"], unit(2))
    other = collection_for("face-embed:older")
    store.ensure(other, 8)
    assert store.delete_person("Ada") == 2 and store.delete_person("Ada") == 0
    store.wipe()
    assert [h.name for h in store.search(COLLECTION, unit(1)[0].tolist(), 3)] == ["Bob"]
    store.drop_empty(keep=COLLECTION)
    assert store.collections() == [COLLECTION]


# ---------------------------------------------------------------------- the embedded store only

def test_remove_deletes_the_vectors_and_name_from_the_files(tmp_path):
    folder = tmp_path / "gallery"
    gone, kept = unit(10)[0], unit(11)[0]
    with open_store(folder) as store:
        store.ensure(COLLECTION, DIM)
        store.add(COLLECTION, "Zebulon Quartzfield", "m", ["z.jpg"], [gone])
        store.add(COLLECTION, "Kept Person", "m", ["k.jpg"], [kept])
    before = files_bytes(folder)
    assert gone.tobytes() in before and b"Zebulon Quartzfield" in before  # the check below can see them
    with open_store(folder) as store:
        assert store.delete_person("Zebulon Quartzfield") == 1
        store.wipe()
    after = files_bytes(folder)
    assert gone.tobytes() not in after and b"Zebulon Quartzfield" not in after
    assert kept.tobytes() in after and b"Kept Person" in after


@pytest.mark.slow
def test_remove_rewrites_the_indexed_segment_with_its_int8_copies(tmp_path):
    """At scale the vectors also live in an HNSW segment as int8 copies (quantized.data): the
    segment that held a removed person is replaced whole, so no copy of theirs stays."""
    folder, n, dim = tmp_path / "gallery", 60_000, 128  # 30 MB of vectors: past the indexing threshold
    vectors = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with open_store(folder) as store:
        store.ensure(COLLECTION, dim)
        for start in range(0, n, 10_000):
            store.put(COLLECTION, [Face("Zebulon Quartzfield" if i // 3 == 7 else f"person {i // 3}", f"{i}.jpg",
                                        "m", vectors[i].tolist()) for i in range(start, start + 10_000)])
    segments = folder / COLLECTION / "segments"
    holding = [s for s in segments.iterdir() if vectors[21].tobytes() in files_bytes(s)]
    assert len(holding) == 1 and (holding[0] / "vector_storage" / "quantized.data").is_file()
    assert b"Zebulon Quartzfield" in files_bytes(holding[0])
    with open_store(folder) as store:
        assert store.delete_person("Zebulon Quartzfield") == 3
        store.wipe()
    assert not holding[0].exists()
    after = files_bytes(folder)
    assert vectors[21].tobytes() not in after and b"Zebulon Quartzfield" not in after and vectors[30].tobytes() in after
    with open_store(folder) as store:
        assert store.count(COLLECTION) == n - 3


@pytest.mark.slow
def test_a_large_gallery_is_indexed_in_segments_searched_together(tmp_path):
    """Every `segment_points` new points become an indexed segment of their own while writing,
    and no merge joins them again; a search finds points of every segment."""
    settings = EdgeSettings(segment_points=25_000)
    folder, n, dim = tmp_path / "gallery", 50_000, 128
    vectors = np.random.default_rng(1).standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    with open_store(folder, settings=settings) as store:
        store.ensure(COLLECTION, dim)
        for start in range(0, n, 5_000):
            store.put(COLLECTION, [Face(f"person {i}", f"{i}.jpg", "m", vectors[i].tolist())
                                   for i in range(start, start + 5_000)])
            info = store._shard(COLLECTION).info()
            assert info.indexed_vectors_count == (start + 5_000) // 25_000 * 25_000
    with open_store(folder, settings=settings) as store:
        info = store._shard(COLLECTION).info()
        assert info.points_count == info.indexed_vectors_count == n
        indexed = [s for s in (folder / COLLECTION / "segments").iterdir()
                   if (s / "vector_storage" / "quantized.data").is_file()]
        assert len(indexed) == 2
        for i in (3, 24_999, 25_000, 49_999):
            assert store.search(COLLECTION, vectors[i].tolist(), 1)[0].name == f"person {i}"


def test_a_collection_is_created_with_the_stores_settings(tmp_path):
    import json

    with open_store(tmp_path / "default") as store:
        store.ensure(COLLECTION, 128)
    with open_store(tmp_path / "own", settings=EdgeSettings(hnsw_m=8, segment_points=1000, memory="cached")) as store:
        store.ensure(COLLECTION, 128)
    default, own = (json.loads((tmp_path / name / COLLECTION / "edge_config.json").read_text())
                    for name in ("default", "own"))
    assert (default["hnsw_config"]["m"], default["hnsw_config"]["memory"]) == (24, "pinned")
    assert default["optimizers"]["max_segment_size"] == int(1.2 * 500_000 * 128 * 4 / 1024)
    assert (own["hnsw_config"]["m"], own["hnsw_config"]["memory"], own["payload_memory"]) == (8, "cached", "cached")
    assert own["optimizers"]["max_segment_size"] == 600


@pytest.mark.parametrize("setting", [{"search_ef": 0}, {"points_per_person": 0}, {"oversampling": 0.5},
                                     {"memory": "swap"}])
def test_settings_out_of_range_are_refused(setting):
    with pytest.raises(GalleryError) as raised:
        EdgeSettings(**setting)
    assert raised.value.code == "bad_setting"


def test_files_are_owner_only_and_one_process_at_a_time(tmp_path):
    folder = tmp_path / "gallery"
    with open_store(folder) as store:
        store.ensure(COLLECTION, DIM)
        store.add(COLLECTION, "Ada", "m", ["a.jpg"], unit(1))
        with pytest.raises(GalleryError) as raised:
            open_store(folder)
        assert raised.value.code == "store_unavailable"
        entries = list(folder.rglob("*"))
        assert len(entries) > 5
        for entry in [folder, *entries]:
            assert stat.S_IMODE(entry.stat().st_mode) == (0o700 if entry.is_dir() else 0o600), entry
    with open_store(folder) as again:  # closed: free again, data kept
        assert again.count(COLLECTION) == 1


def test_a_local_mode_folder_is_migrated_on_first_open(tmp_path):
    folder = tmp_path / "old"
    vectors = unit(5, 30)
    client = QdrantClient(path=str(folder))  # the earlier embedded layout
    client.create_collection(COLLECTION, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE))
    client.upsert(COLLECTION, points=[models.PointStruct(
        id=point_id(f"p{i % 7}", f"{i}.jpg"), vector=v.tolist(),
        payload={"name": f"p{i % 7}", "photo": f"{i}.jpg", "model": "face-embed:test"}) for i, v in enumerate(vectors)])
    client.close()
    assert (folder / "collection").is_dir()
    with open_store(folder) as store:
        assert store.migrated == 30 and store.count(COLLECTION) == 30
        assert store.search(COLLECTION, vectors[3].tolist(), 1)[0].name == "p3"
        assert store.model_of(COLLECTION) == "face-embed:test"
    assert not (folder / "collection").exists() and not (folder / "meta.json").exists()
    with open_store(folder) as store:  # once only
        assert store.migrated == 0 and store.count(COLLECTION) == 30


WRITER = textwrap.dedent("""
    import sys, numpy as np
    from client.gallery.open_store import open_store
    store = open_store(sys.argv[1])
    store.ensure(sys.argv[2], 16)
    rng = np.random.default_rng(0)
    for batch in range(100000):
        vectors = rng.standard_normal((200, 16))
        store.add(sys.argv[2], f"p{batch}", "m", [f"{i}.jpg" for i in range(200)], vectors)
        print(batch, flush=True)
""")


def test_a_store_killed_while_writing_reopens_intact(tmp_path):
    folder = tmp_path / "gallery"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(folder), COLLECTION], cwd=REPO,
                              stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        written = [writer.stdout.readline() for _ in range(5)]  # five batches flushed
        assert all(line.strip() for line in written), "the writer died early"
        time.sleep(0.05)
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    with open_store(folder) as store:
        count = store.count(COLLECTION)
        assert count >= 5 * 200
        ids = [face.name + face.photo for face in store.faces(COLLECTION)]
        assert len(ids) == len(set(ids)) == count
        store.add(COLLECTION, "after", "m", ["x.jpg"], unit(1))
        assert store.count(COLLECTION) == count + 1
