"""The served engines give the torch model's embeddings: the committed weights exported to
ONNX and run by OpenVINO / ONNX Runtime, on real aligned crops of skimage's astronaut."""
import cv2
import numpy as np
import pytest
import torch
from torch import nn

from model.embedder import FaceEmbedder, load_backbone
from model.onnx_embedder import ENGINES, OnnxEmbedder, engine_embedder, export_onnx, onnxruntime_runner
from model.pipeline import FacePipeline
from tests.conftest import REPO

WEIGHTS = REPO / "weights" / "face_embedder.pt"


@pytest.fixture(scope="module")
def backbone():
    if not WEIGHTS.is_file():
        pytest.skip(f"{WEIGHTS} is missing")
    return load_backbone(WEIGHTS)[0]


@pytest.fixture(scope="module")
def crops(astronaut_bgr) -> np.ndarray:
    """The astronaut's face aligned from the photo, mirrored, rotated, scaled down and darkened."""
    pipeline = FacePipeline()
    variants = [astronaut_bgr, astronaut_bgr[:, ::-1],
                cv2.warpAffine(astronaut_bgr, cv2.getRotationMatrix2D((256, 256), 15, 1.0), (512, 512)),
                cv2.resize(astronaut_bgr, (200, 200), interpolation=cv2.INTER_AREA),
                (astronaut_bgr * 0.5).astype(np.uint8)]
    aligned = [pipeline.faces(np.ascontiguousarray(v), max_faces=1)[0].crop for v in variants]
    return np.stack(aligned)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("flip", [True, False])
def test_engines_give_the_torch_embeddings(backbone, crops, engine, flip):
    reference = FaceEmbedder(backbone, flip=flip).embed(crops)
    served = engine_embedder(backbone, engine, threads=1, flip=flip).embed(crops)
    assert served.shape == reference.shape and served.dtype == np.float32
    assert np.abs(served - reference).max() < 1e-4
    assert np.allclose(np.linalg.norm(served, axis=1), 1.0, atol=1e-5)
    # different photos of one face stay closer to each other than to a scrambled crop
    scrambled = engine_embedder(backbone, engine, flip=flip).embed(crops[:1, ::-1, ::-1].copy())
    assert (served[0] @ served[1:].T).min() > float(served[0] @ scrambled[0])


def test_bf16_stays_within_rounding_of_f32(backbone, crops):
    f32 = engine_embedder(backbone, "openvino", precision="f32").embed(crops)
    bf16 = engine_embedder(backbone, "openvino", precision="bf16").embed(crops)
    assert np.sum(f32 * bf16, axis=1).min() > 0.995  # bf16 where the CPU has it, else f32 itself


def test_batches_split_and_empty_input(backbone, crops):
    whole = engine_embedder(backbone, "onnxruntime", batch_size=64)
    split = OnnxEmbedder(whole.run, whole.embedding_dim, flip=True, batch_size=2)
    assert np.abs(split.embed(crops) - whole.embed(crops)).max() < 1e-5
    assert whole.embed([]).shape == (0, whole.embedding_dim)
    assert whole.embedding_dim == backbone.config.embedding_dim


def test_any_module_exports_with_a_dynamic_batch():
    """The engine does not depend on the architecture: a module without a config works too."""
    net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=4), nn.BatchNorm2d(8), nn.PReLU(8), nn.Flatten(),
                        nn.Linear(8 * 28 * 28, 16)).eval()
    run = onnxruntime_runner(export_onnx(net))
    images = torch.randn(5, 3, 112, 112)
    with torch.no_grad():
        expected = net(images).numpy()
    assert np.abs(run(images.numpy()) - expected).max() < 1e-4
    assert engine_embedder(net, "openvino").embedding_dim == 16


def test_unknown_engine_or_precision_is_refused(backbone):
    with pytest.raises(ValueError, match="engine"):
        engine_embedder(backbone, "tensorrt")
    with pytest.raises(ValueError, match="precision"):
        engine_embedder(backbone, "openvino", precision="int4")
