"""One face-box renderer (client/drawing.py) for the annotated video frames, the page's
labelled photo and the contact sheet: the same colour means the same thing in all three."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("trackers")

from client.contact_sheet import contact_sheet  # noqa: E402
from client.drawing import FaceKind, FaceMark, draw_faces, labelled_photo  # noqa: E402
from client.models import VerificationResult  # noqa: E402
from client.video.drawing import caption, draw  # noqa: E402
from client.video.tracking import Label, TrackedFace  # noqa: E402


def rgb(color: str) -> tuple[int, int, int]:
    return tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))


def colours(image) -> set[tuple[int, int, int]]:
    return {tuple(int(v) for v in c) for c in np.asarray(image.convert("RGB")).reshape(-1, 3)}


def test_a_frame_boxes_named_unknown_and_pending_tracks_in_the_palette():
    frame = np.full((480, 640, 3), 255, np.uint8)
    faces = [TrackedFace(1, [40, 100, 120, 120], Label(True, "ada", 0.71), True),
             TrackedFace(2, [240, 100, 120, 120], Label(True, None, 0.12), True),
             TrackedFace(3, [440, 100, 120, 120], Label(False, None, None), True)]
    image = draw(frame, faces, "unknown")
    assert image.size == (640, 480)
    pixels = np.asarray(image)
    assert tuple(pixels[160, 40]) == rgb(FaceKind.MATCH.color)  # each box's left edge
    assert tuple(pixels[160, 240]) == rgb(FaceKind.NO_MATCH.color)
    assert tuple(pixels[160, 440]) == rgb(FaceKind.PENDING.color)
    assert tuple(pixels[160, 100]) == (255, 255, 255)  # inside a box: the frame untouched
    assert [caption(f, "unknown") for f in faces] == ["#1 ada 0.71", "#2 unknown 0.12", "#3 ..."]


def test_a_label_goes_below_the_box_at_the_top_edge():
    image = Image.new("RGB", (200, 200), "white")
    draw_faces(image, [FaceMark([20, 0, 80, 60], FaceKind.MATCH, "top")], font_size=14, width=2)
    pixels = np.asarray(image)
    below = pixels[62:80, 22:40].reshape(-1, 3)
    assert (below == rgb(FaceKind.MATCH.color)).all(axis=1).mean() > 0.5  # the filled tab under the box


def test_the_page_photo_and_the_contact_sheet_use_the_same_colours(tmp_path):
    photo = tmp_path / "p.jpg"
    Image.fromarray(np.full((400, 400, 3), 200, np.uint8)).save(photo)
    labelled = labelled_photo(photo, [FaceMark([40, 40, 160, 160], FaceKind.MATCH, "1. ada 0.80"),
                                      FaceMark([220, 220, 160, 160], FaceKind.NO_MATCH, "2. unknown")], size=200)
    assert labelled.size == (200, 200)  # fitted, boxes scaled with it
    assert {rgb(FaceKind.MATCH.color), rgb(FaceKind.NO_MATCH.color)} <= colours(labelled)

    result = VerificationResult.model_validate({
        "model": "face-verify:test", "threshold": 0.3, "reference": {"box": [10, 10, 40, 50], "confidence": 0.9},
        "results": [{"name": "test_1", "match": True, "score": 0.8, "box": [5, 5, 30, 30], "faces": 2,
                     "detections": [{"box": [5, 5, 30, 30], "score": 0.8, "confidence": 0.9},
                                    {"box": [200, 200, 150, 150], "score": 0.1, "confidence": 0.8}]}]})
    sheet = colours(contact_sheet(photo, [photo], result))
    for kind in (FaceKind.REFERENCE, FaceKind.MATCH, FaceKind.OTHER):
        assert rgb(kind.color) in sheet, kind
    without_others = colours(contact_sheet(photo, [photo], result, other_faces=False, title="t"))
    assert rgb(FaceKind.OTHER.color) in without_others  # the legend's swatch still shows it
