"""The page's API through gradio_client, checked against the service's own answer."""
from __future__ import annotations

import json

import pytest
from gradio_client import Client, handle_file
from PIL import Image

from client import FaceClient

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def page(ui_app):
    return Client(ui_app.url, verbose=False, download_files=True)


def test_verify_matches_the_service(page, ui_app, example_photos):
    reference = example_photos["reference.jpg"]
    tests = [example_photos[n] for n in ("group.jpg", "other.jpg", "cat.jpg", "broken.jpg")]
    with FaceClient(ui_app.server.base_url, token=ui_app.server.token) as service:
        direct = service.verify(reference, tests)

    sheet, rows, summary, answer = page.predict(
        handle_file(str(reference)), [handle_file(str(t)) for t in tests], direct.threshold, [],
        api_name="/verify")

    got = json.loads(open(answer).read())
    assert got["threshold"] == pytest.approx(direct.threshold)
    assert [r["match"] for r in got["results"]] == [r.match for r in direct.results]
    assert [r["score"] for r in got["results"]] == pytest.approx([r.score for r in direct.results])
    assert got["files"] == {"reference": "reference.jpg", "test_1": "group.jpg", "test_2": "other.jpg",
                            "test_3": "cat.jpg", "test_4": "broken.jpg"}
    table = rows["data"]
    assert [row[1] for row in table] == ["group.jpg", "other.jpg", "cat.jpg", "broken.jpg"]
    assert [row[2] for row in table] == ["MATCH", "no match", "no match", "error"]
    assert [r.match for r in direct.results] == [True, False, False, None]
    assert "not_an_image" in table[3][5] and table[2][4] == 0  # the cat: no face, no error
    assert "4 test photos:** 1 match, 2 no match, 1 error" in summary  # marks: the browser test
    with Image.open(sheet) as image:  # the contact sheet: 5 tiles in one row plus the legend
        assert image.width >= 900 and image.height > 300


def test_refused_reference_is_reported(page, example_photos):
    _, rows, summary, answer = page.predict(
        handle_file(str(example_photos["cat.jpg"])), [handle_file(str(example_photos["reference.jpg"]))],
        0.3, [], api_name="/verify")
    assert "no_face_in_reference" in summary or "no face" in summary.lower()
    assert answer is None


def test_sample_set(page, ui_app):
    if not ui_app.has_data:
        pytest.skip("LFW not found (set DATA_DIR): no sample-set button")
    reference, tests, marks, note = page.predict(3, api_name="/sample")
    assert len(tests) == 15 and len(marks["value"] if isinstance(marks, dict) else marks) == 5
    assert "seed 3" in note


def test_identify_tab(page, example_photos):
    """Enrol the astronaut from one photo; in the group photo she is named, the cameraman is unknown."""
    enrolled, people = page.predict("Eileen Collins", [handle_file(str(example_photos["reference.jpg"]))],
                                    api_name="/enroll")
    assert "1 photo enrolled" in enrolled
    assert [row[0] for row in people["data"]] == ["Eileen Collins"]
    labelled, faces, summary = page.predict(handle_file(str(example_photos["group.jpg"])), api_name="/identify")
    assert summary.startswith("2 faces (threshold")
    assert sorted(row[1] for row in faces["data"]) == ["Eileen Collins", "unknown"]
    with Image.open(labelled) as image:
        assert image.size[0] > 0
    removed, people = page.predict("Eileen Collins", api_name="/remove")
    assert "removed" in removed
    assert not any(row and row[0] == "Eileen Collins" for row in people["data"])
