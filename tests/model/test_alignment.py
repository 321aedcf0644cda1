import cv2
import numpy as np

from model.alignment import ARCFACE_TEMPLATE, FACE_SIZE, align_face, center_crop, similarity_transform


def apply(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return np.c_[points, np.ones(len(points))] @ matrix.T


def test_similarity_maps_a_moved_template_back_onto_it():
    angle, scale, shift = np.deg2rad(25), 2.3, np.array([140.0, 75.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = ARCFACE_TEMPLATE @ rotation.T + shift
    matrix = similarity_transform(landmarks)
    assert np.allclose(apply(matrix, landmarks), ARCFACE_TEMPLATE, atol=1e-3)


def test_aligned_crop_puts_the_detected_landmarks_on_the_template(detector, astronaut_bgr):
    face = detector.detect(astronaut_bgr)[0]
    crop = align_face(astronaut_bgr, face.landmarks)
    assert crop.shape == (FACE_SIZE, FACE_SIZE, 3)
    assert np.abs(apply(similarity_transform(face.landmarks), face.landmarks) - ARCFACE_TEMPLATE).max() < 6
    # a second detection on the aligned crop finds the landmarks where the template says
    again = detector.detect(cv2.copyMakeBorder(crop, 40, 40, 40, 40, cv2.BORDER_REPLICATE))
    assert again and np.abs(again[0].landmarks - 40 - ARCFACE_TEMPLATE).max() < 8


def test_center_crop_fallback_has_the_face_size():
    assert center_crop(np.zeros((250, 250, 3), dtype=np.uint8)).shape == (FACE_SIZE, FACE_SIZE, 3)
    assert center_crop(np.zeros((3, 900, 3), dtype=np.uint8)).shape == (FACE_SIZE, FACE_SIZE, 3)
