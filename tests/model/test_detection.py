import cv2
import numpy as np
import pytest

from model.detection import most_central
from tests.conftest import DATA_DIR, iou, needs_data


def test_finds_the_astronaut_face(detector, astronaut_bgr):
    faces = detector.detect(astronaut_bgr)
    assert len(faces) == 1
    x, y, w, h = faces[0].box
    assert 150 < x + w / 2 < 260 and 40 < y + h / 2 < 160  # her face, upper middle of the 512x512 photo
    assert faces[0].confidence > 0.8 and faces[0].landmarks.shape == (5, 2)


def test_photo_without_a_face_gives_empty_list(detector):
    from skimage import data

    assert detector.detect(np.full((300, 400, 3), 128, dtype=np.uint8)) == []
    assert detector.detect(cv2.cvtColor(data.chelsea(), cv2.COLOR_RGB2BGR)) == []
    assert detector.detect(np.zeros((1, 1, 3), dtype=np.uint8)) == []


def test_large_photo_is_scaled_and_boxes_map_back(detector, astronaut_bgr):
    small = detector.detect(astronaut_bgr)[0]
    big = detector.detect(cv2.resize(astronaut_bgr, None, fx=4, fy=4))[0]
    assert iou([v * 4 for v in small.box], big.box) > 0.8
    assert np.abs(small.landmarks * 4 - big.landmarks).max() < 0.08 * big.box[2]  # within 8% of the face width


def compose(photos: list[np.ndarray], height: int = 300) -> tuple[np.ndarray, list[int]]:
    """Photos side by side on one canvas (a group photo); returns each one's x offset."""
    resized = [cv2.resize(p, (int(p.shape[1] * height / p.shape[0]), height)) for p in photos]
    offsets = list(np.cumsum([0] + [r.shape[1] + 20 for r in resized[:-1]]))
    canvas = np.full((height + 40, offsets[-1] + resized[-1].shape[1] + 40, 3), 255, dtype=np.uint8)
    for r, x in zip(resized, offsets):
        canvas[20 : 20 + height, 20 + x : 20 + x + r.shape[1]] = r
    return canvas, [int(x) + 20 for x in offsets]


def test_finds_every_face_in_a_composed_scene(detector, astronaut_bgr):
    from skimage import data

    cat = cv2.cvtColor(data.chelsea(), cv2.COLOR_RGB2BGR)
    scene, offsets = compose([astronaut_bgr, cat, cv2.flip(astronaut_bgr, 1), astronaut_bgr[:300, 100:400]])
    faces = detector.detect(scene)
    assert len(faces) == 3
    centres = sorted(f.center[0] for f in faces)
    # one face inside each human photo, none in the cat's
    assert offsets[0] < centres[0] < offsets[1] and offsets[2] < centres[1] < offsets[3] < centres[2]


@needs_data
def test_finds_faces_in_lfw_photos_and_in_a_group_of_them(detector):
    from model.image_io import read_image

    names = ["Aaron_Peirsol", "George_W_Bush", "Serena_Williams", "Colin_Powell"]
    photos = [read_image(str(DATA_DIR / "lfw/lfw-deepfunneled" / n / f"{n}_0001.jpg")) for n in names]
    for photo in photos:
        face = most_central(detector.detect(photo), 250, 250)
        assert face is not None and abs(face.center[0] - 125) < 40 and abs(face.center[1] - 125) < 40
    scene, offsets = compose([p[60:190, 60:190] for p in photos], height=160)
    found = detector.detect(scene)
    assert len(found) >= 4
    for x in offsets:
        assert any(x < f.center[0] < x + 160 for f in found)
