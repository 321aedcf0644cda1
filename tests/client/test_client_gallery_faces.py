"""Which face of a photo gets enrolled."""
import pytest

from client.gallery.faces import FaceChoiceError, enrolment_face
from client.models import EmbeddedFace


def face(w: float, h: float, x: float = 0.0) -> EmbeddedFace:
    return EmbeddedFace(box=(x, 0.0, w, h), confidence=0.9, embedding=[1.0, 0.0])


def test_the_largest_face_wins_over_small_background_faces():
    assert enrolment_face([face(30, 30), face(100, 120, x=50), face(20, 25)]).box[0] == 50


@pytest.mark.parametrize("faces, code", [([], "no_face"), ([face(100, 100), face(80, 80)], "several_faces")])
def test_refusals(faces, code):
    with pytest.raises(FaceChoiceError) as raised:
        enrolment_face(faces)
    assert raised.value.code == code and raised.value.reason


def test_a_face_just_under_half_the_area_is_background():
    assert enrolment_face([face(100, 100), face(70, 70, x=200)]).box[0] == 0
