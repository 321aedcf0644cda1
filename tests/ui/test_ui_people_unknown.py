"""The People tab over faces collected from video (client/people/unknown.py): no photo, so the
track's snapshot or a placeholder; their unnamed group reads "Unknown person N" until named."""
from __future__ import annotations

import numpy as np
from PIL import Image

from client.models import EmbeddedFace
from client.people.index import PeopleIndex
from client.people.unknown import frame_key
from ui.people_tab import PeopleTab


def seen_state(folder, snapshot: str | None) -> None:
    index = PeopleIndex(model="m", threshold=0.3)
    for i in range(3):
        embedding = np.zeros(4, dtype=np.float32)
        embedding[0], embedding[1 + i % 3] = 1.0, 0.1
        embedding /= np.linalg.norm(embedding)
        index.add_seen(frame_key("door", "run", float(i)), EmbeddedFace(box=(10, 10, 80, 80), confidence=0.9,
                                                                        embedding=embedding.tolist()),
                       source="door", time=1765000000.0 + i, snapshot=snapshot if i == 0 else None)
    index.assign()
    index.save(folder)


def test_seen_faces_show_as_an_unknown_person_with_snapshot_or_placeholder(tmp_path):
    crop = tmp_path / "door-crop.jpg"
    Image.new("RGB", (150, 100), (200, 30, 30)).save(crop)
    seen_state(tmp_path / "state", str(crop))
    tab = PeopleTab(tmp_path / "state", None)
    groups, faces, unassigned, line = tab.view()
    assert [caption for _, caption in groups] == ["group g1 · Unknown person 1 · 3 faces"]
    assert unassigned == [] and "3 faces seen in video" in line
    shown = [np.asarray(image) for image, _ in faces]
    assert shown[0].shape == (75, 112, 3) and np.abs(shown[0][40, 56].astype(int) - [200, 30, 30]).max() < 8  # the crop
    assert all(image.shape == (112, 112, 3) for image in shown[1:])  # placeholders
    message, groups, *_ = tab.name("g1", "Ada")
    assert "Ada" in message and [caption for _, caption in groups] == ["group g1 · Ada · 3 faces"]
    assert PeopleIndex.load(tmp_path / "state").groups["g1"].name == "Ada"
