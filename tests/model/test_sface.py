"""The SFace network in torch against an independent run of the shipped ONNX graph
(ONNX Runtime, which dequantises the int8 blocks itself) on real aligned faces."""
import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from skimage import data

from model.backbone import BackboneConfig, FaceBackbone
from model.embedder import FaceEmbedder, load_backbone, save_checkpoint
from model.pipeline import FacePipeline
from model.preprocess import crops_to_tensor
from model.sface_convert import convert, dequantize, sface_onnx_path


@pytest.fixture(scope="module")
def aligned_faces() -> np.ndarray:
    astronaut = np.ascontiguousarray(data.astronaut()[:, :, ::-1])
    cameraman = cv2.cvtColor(data.camera(), cv2.COLOR_GRAY2BGR)
    pipeline = FacePipeline()
    faces = [f.crop for photo in (astronaut, cameraman, cv2.flip(astronaut, 1)) for f in pipeline.faces(photo)]
    assert len(faces) == 3
    return np.stack(faces)


def onnx_features(crops: np.ndarray) -> np.ndarray:
    model = onnx.load(str(sface_onnx_path()))
    data_input = [i for i in model.graph.input if i.name == "data"]
    del model.graph.input[:]  # the graph also lists its weights as inputs; only `data` is one
    model.graph.input.extend(data_input)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    rgb = np.ascontiguousarray(crops[..., ::-1].transpose(0, 3, 1, 2)).astype(np.float32)  # raw 0..255 RGB
    return np.concatenate([session.run(None, {"data": rgb[i : i + 1]})[0] for i in range(len(rgb))])


def test_converted_network_reproduces_the_onnx_graph(aligned_faces):
    with torch.no_grad():
        ours = convert()(crops_to_tensor(aligned_faces)).numpy()
    theirs = onnx_features(aligned_faces)
    assert np.abs(ours - theirs).max() < 1e-3 * np.abs(theirs).max()
    cosine = np.sum(ours * theirs, 1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    assert cosine.min() > 0.9999


def test_converted_network_tells_people_apart(aligned_faces):
    astronaut, cameraman, mirrored = FaceEmbedder(convert(), flip=False).embed(aligned_faces)
    assert astronaut @ mirrored > 0.6 > astronaut @ cameraman


def test_checkpoint_round_trip_keeps_the_architecture(tmp_path, aligned_faces):
    save_checkpoint(tmp_path / "sface.pt", convert(), stage="sface")
    loaded, meta = load_backbone(tmp_path / "sface.pt")
    assert loaded.config == BackboneConfig.for_arch("sface") and meta["stage"] == "sface"
    assert np.allclose(FaceEmbedder(loaded).embed(aligned_faces), FaceEmbedder(convert()).embed(aligned_faces),
                       atol=1e-5)


def test_block_dequantisation_uses_one_scale_per_block():
    quantized = np.array([[10, 12, -4, 0, 5]], dtype=np.int8)
    scale, zero = np.array([[0.5, 2.0]], dtype=np.float32), np.array([[2, -1]], dtype=np.int8)
    assert dequantize(quantized, scale, zero, axis=1, block_size=3).tolist() == [[4.0, 5.0, -3.0, 2.0, 12.0]]


def test_sface_sizes_are_fixed_by_its_weights():
    with pytest.raises(ValueError):
        BackboneConfig("sface", embedding_dim=256)
    with pytest.raises(ValueError):
        FaceBackbone(BackboneConfig("resnet"))
    assert BackboneConfig.for_arch("sface", embedding_dim=256).embedding_dim == 128
