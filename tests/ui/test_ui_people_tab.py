"""The People tab's functions without a browser or a service: a saved state of synthetic
embeddings (tests/client/test_client_people.py's collection), named into a gallery folder,
merged, split and rejected, each change saved; thumbnails cut from the photo with the box."""
from __future__ import annotations

import pytest
from PIL import Image

from tests.client.test_client_people import collection
from ui.people_tab import PeopleTab, face_ids, face_thumbnail


@pytest.fixture
def state(tmp_path):
    index = collection([[0], [1], [0], [1], [0], [1]])  # persons 0 and 1, three photos each
    index.assign()
    index.save(tmp_path / "state")
    return tmp_path / "state"


def captions(items) -> list[str]:
    return [caption for _, caption in items]


def test_the_tab_shows_the_groups_and_their_faces(state):
    groups, faces, unassigned, line = PeopleTab(state, None).view()
    assert sorted(captions(groups)) == ["group g1 · unnamed · 3 faces", "group g2 · unnamed · 3 faces"]
    assert len(faces) == 6 and unassigned == []
    assert line.startswith("2 groups, 6 faces grouped, 0 unassigned, from 6 photos")
    assert all(image.size == (112, 112) for image, _ in groups)  # the photos are gone: grey squares


def test_a_missing_state_says_how_to_make_one(tmp_path):
    groups, faces, unassigned, line = PeopleTab(tmp_path / "none", None).view()
    assert (groups, faces, unassigned) == ([], [], []) and "people discover" in line


def test_naming_enrols_the_group_in_the_gallery_and_is_saved(state, tmp_path):
    from client.gallery import Gallery

    with Gallery(tmp_path / "gallery") as gallery:
        message, groups, *_ = PeopleTab(state, gallery).name("g1", "Ada")
        assert "Ada" in message and "enrolled" in message
        assert [(p.name, len(p.photos)) for p in gallery.people()] == [("Ada", 3)]
    assert "group g1 · Ada · 3 faces" in captions(groups)
    assert "group g1 · Ada · 3 faces" in captions(PeopleTab(state, None).view()[0])  # read back from disk


def test_merge_split_and_reject_change_the_saved_groups(state):
    tab = PeopleTab(state, None)
    message, groups, *_ = tab.merge("g1", "g2")
    assert "merged" in message and captions(groups) == ["group g1 · unnamed · 6 faces"]
    first, second = tab.index().members()["g1"][:2]
    message, groups, *_ = tab.split("g1", f"{first}, {second}")
    assert "g3" in message and sorted(captions(groups)) == ["group g1 · unnamed · 4 faces",
                                                              "group g3 · unnamed · 2 faces"]
    message, groups, *_ = tab.reject(str(first))
    assert f"face {first} → group g4" in message
    assert tab.index().faces[first].group == "g4"


def test_refused_changes_leave_the_state_alone(state):
    tab = PeopleTab(state, None)
    before = (state / "people.json").read_text()
    for message, *_ in (tab.merge("g1", "g99"), tab.name("g1", "  "), tab.reject(""), tab.split("g1", "x")):
        assert message.startswith("**Not done:**")
    assert (state / "people.json").read_text() == before


def test_a_thumbnail_is_the_face_cut_from_the_photo_with_a_margin(tmp_path):
    photo = Image.new("RGB", (400, 300), (0, 0, 255))
    photo.paste((255, 0, 0), (100, 50, 180, 130))  # the "face": an 80 x 80 red square
    photo.save(tmp_path / "photo.png")
    thumb = face_thumbnail(tmp_path / "photo.png", [100.0, 50.0, 80.0, 80.0])
    assert thumb.size == (112, 112)  # 80 + 2 x 20 margin = 120, fitted into 112
    assert thumb.getpixel((56, 56)) == (255, 0, 0) and thumb.getpixel((2, 2)) == (0, 0, 255)
    assert face_ids("41 42,43") == [41, 42, 43]
