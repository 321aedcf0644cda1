"""Photo -> detected faces -> aligned crops. The single preprocessing path used by the
face cache (training, evaluation) and the TorchServe handler (`photo_faces`: decode, detect,
align; the bench times those three steps from outside)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.alignment import FACE_SIZE, align_face, center_crop
from model.detection import Face, FaceDetector, most_central
from model.image_io import decode_image


@dataclass(frozen=True)
class DetectedFace:
    face: Face
    crop: np.ndarray  # FACE_SIZE x FACE_SIZE x 3 BGR uint8, aligned


class FacePipeline:
    def __init__(self, detector: FaceDetector | None = None, size: int = FACE_SIZE) -> None:
        self.detector = detector or FaceDetector()
        self.size = size

    def photo_faces(self, data: bytes | bytearray, max_pixels: int,
                    max_faces: int | None = None) -> tuple[list[DetectedFace], tuple[int, int]]:
        """An encoded photo -> its faces (largest first), each aligned, and its (width, height):
        the serving path. Raises model.image_io.ImageError for bytes that are not a usable photo."""
        image = decode_image(data, max_pixels)
        return self.align(image, self.detect(image, max_faces)), (image.shape[1], image.shape[0])

    def faces(self, image: np.ndarray, max_faces: int | None = None) -> list[DetectedFace]:
        """Every face in the photo (largest first), each aligned."""
        return self.align(image, self.detect(image, max_faces))

    def detect(self, image: np.ndarray, max_faces: int | None = None) -> list[Face]:
        """The photo's faces, largest first, at most `max_faces`."""
        return self.detector.detect(image)[:max_faces]

    def align(self, image: np.ndarray, found: list[Face]) -> list[DetectedFace]:
        return [DetectedFace(face, align_face(image, face.landmarks, self.size)) for face in found]

    def labelled_face(self, image: np.ndarray, choose: str = "central") -> tuple[np.ndarray, Face | None]:
        """The one face a dataset photo is labelled with: the most central (LFW) or the
        largest (CelebA). Without a detection, the documented fallback is the centre crop."""
        found = self.detector.detect(image)
        height, width = image.shape[:2]
        face = most_central(found, width, height) if choose == "central" else (found[0] if found else None)
        if face is None:
            return center_crop(image, self.size), None
        return align_face(image, face.landmarks, self.size), face
