"""The committed weights at their stored threshold on a known case: Colin Powell's reference
photo against two more of his and two of other people (LFW peopleDevTrain, never a test pair)."""
import numpy as np

from tests.conftest import DATA_DIR, REPO, needs_data


@needs_data
def test_colin_powell_against_himself_and_two_others():
    from model.embedder import FaceEmbedder, load_backbone
    from model.image_io import read_image
    from model.pipeline import FacePipeline

    backbone, meta = load_backbone(REPO / "weights" / "face_embedder.pt")
    pipeline = FacePipeline(size=backbone.config.input_size)
    photos = ["Colin_Powell_0001", "Colin_Powell_0002", "Colin_Powell_0003", "Tony_Blair_0001", "Serena_Williams_0001"]
    lfw = DATA_DIR / "lfw" / "lfw-deepfunneled"
    crops = [pipeline.labelled_face(read_image(str(lfw / name.rsplit("_", 1)[0] / f"{name}.jpg")))[0]
             for name in photos]
    embeddings = FaceEmbedder(backbone, flip=meta.get("flip", True)).embed(np.stack(crops))
    scores = embeddings[1:] @ embeddings[0]
    assert list(scores >= meta["threshold"]) == [True, True, False, False], scores
