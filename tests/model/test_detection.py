import cv2
import numpy as np
import pytest

from model.detection import FaceDetector, most_central
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


def phone_group_photo(astronaut_bgr: np.ndarray, widths: list[int]) -> tuple[np.ndarray, list[tuple]]:
    """A 4000x3000 photo on a textured background with the astronaut's head pasted so that
    her face is each of `widths` px wide; returns the photo and each face's (cx, cy, width)."""
    head = astronaut_bgr[20:300, 100:360]
    (face,) = FaceDetector(max_side=10_000).detect(head)
    x0, y0, w0, h0 = face.box
    rng = np.random.default_rng(0)
    photo = cv2.GaussianBlur(rng.integers(60, 200, (3000, 4000, 3), dtype=np.uint8), (0, 0), 3)
    truth, x = [], 60
    for i, width in enumerate(widths):
        k = width / w0
        pasted = cv2.resize(head if i % 2 else head[:, ::-1], None, fx=k, fy=k, interpolation=cv2.INTER_AREA)
        y = 250 + (i % 2) * 1300
        photo[y : y + pasted.shape[0], x : x + pasted.shape[1]] = pasted
        cx = x + (x0 + w0 / 2) * k if i % 2 else x + (head.shape[1] - x0 - w0 / 2) * k
        truth.append((cx, y + (y0 + h0 / 2) * k, width))
        x += pasted.shape[1] + 40
    return photo, truth


def found(faces, truth) -> list[int]:
    """The widths in `truth` whose face was detected (a box centred within half a face)."""
    return [w for cx, cy, w in truth
            if any(abs(f.center[0] - cx) < w / 2 and abs(f.center[1] - cy) < w / 2 for f in faces)]


def test_faces_of_40_to_300_px_in_a_4000x3000_photo_are_found(detector, astronaut_bgr):
    widths = [40, 50, 60, 80, 100, 150, 200, 300]
    photo, truth = phone_group_photo(astronaut_bgr, widths)
    assert found(detector.detect(photo), truth) == widths
    # scaled to a 640 px side like smaller photos, the smallest faces would be lost
    assert 40 not in found(FaceDetector(min_face=160).detect(photo), truth)


def test_detection_input_follows_the_photo_size(detector):
    assert detector.scale_for(250, 250) == 1.0  # small photos are not scaled up
    assert detector.scale_for(640, 480) == 1.0
    assert detector.scale_for(1280, 960) == 0.5  # to a 640 px side
    assert detector.scale_for(4000, 3000) == 0.25  # no further: a 40 px face stays >= 10 px


def compose(photos: list[np.ndarray], height: int = 300) -> tuple[np.ndarray, list[int]]:
    """Photos side by side on one canvas (a group photo); returns each one's x offset."""
    resized = [cv2.resize(p, (int(p.shape[1] * height / p.shape[0]), height)) for p in photos]
    offsets = list(np.cumsum([0] + [r.shape[1] + 20 for r in resized[:-1]]))
    canvas = np.full((height + 40, offsets[-1] + resized[-1].shape[1] + 40, 3), 255, dtype=np.uint8)
    for r, x in zip(resized, offsets, strict=False):
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


@pytest.mark.parametrize("turn", [cv2.ROTATE_90_CLOCKWISE, cv2.ROTATE_90_COUNTERCLOCKWISE])
def test_turned_photo_is_searched_turned_back(detector, astronaut_bgr, turn):
    from model.alignment import align_face

    upright = detector.detect(astronaut_bgr)[0]
    turned = cv2.rotate(astronaut_bgr, turn)
    assert max((f.confidence for f in detector.detect_upright(turned)), default=0.0) < detector.retry_below
    (face,) = detector.detect(turned)
    assert face.confidence > 0.8
    # the same face, in the turned photo's pixels, and aligned upright as from the upright photo
    back = cv2.rotate(np.zeros(astronaut_bgr.shape[:2], np.uint8), turn)
    x, y, w, h = (round(v) for v in face.box)
    back[y:y + h, x:x + w] = 1
    mask = cv2.rotate(back, {cv2.ROTATE_90_CLOCKWISE: cv2.ROTATE_90_COUNTERCLOCKWISE,
                             cv2.ROTATE_90_COUNTERCLOCKWISE: cv2.ROTATE_90_CLOCKWISE}[turn])
    ys, xs = np.nonzero(mask)
    assert iou([xs.min(), ys.min(), xs.max() - xs.min(), ys.max() - ys.min()], upright.box) > 0.7
    difference = np.abs(align_face(turned, face.landmarks).astype(int)
                        - align_face(astronaut_bgr, upright.landmarks).astype(int))
    assert difference.mean() < 12


def test_upright_faces_are_not_searched_again(detector, astronaut_bgr, monkeypatch):
    calls = []
    original = detector.detect_upright
    monkeypatch.setattr(detector, "detect_upright", lambda image: calls.append(image.shape) or original(image))
    detector.detect(astronaut_bgr)
    assert calls == [astronaut_bgr.shape]
