import numpy as np
import torch

from model.backbone import BackboneConfig, FaceBackbone
from model.embedder import FaceEmbedder, load_backbone, save_checkpoint


def crops(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (n, 112, 112, 3), dtype=np.uint8)


def test_checkpoint_reloads_to_identical_embeddings(tmp_path):
    torch.manual_seed(0)
    backbone = FaceBackbone(BackboneConfig(embedding_dim=64)).eval()
    before = FaceEmbedder(backbone).embed(crops(5))
    save_checkpoint(tmp_path / "b.pt", backbone, threshold=0.3, version="t")
    loaded, meta = load_backbone(tmp_path / "b.pt")
    assert meta == {"threshold": 0.3, "version": "t"}
    assert np.array_equal(before, FaceEmbedder(loaded).embed(crops(5)))


def test_embeddings_are_unit_length_and_batch_independent():
    embedder = FaceEmbedder(FaceBackbone(BackboneConfig(embedding_dim=32)), batch_size=2)
    batch = crops(5)
    together = embedder.embed(batch)
    assert together.shape == (5, 32)
    assert np.allclose(np.linalg.norm(together, axis=1), 1, atol=1e-5)
    assert np.allclose(together[3], embedder.embed(batch[3:4])[0], atol=1e-5)
    assert embedder.embed([]).shape == (0, 32)


def test_flip_fusion_makes_mirror_images_identical():
    embedder = FaceEmbedder(FaceBackbone(BackboneConfig(embedding_dim=32)), flip=True)
    image = crops(1)
    assert np.allclose(embedder.embed(image), embedder.embed(image[:, :, ::-1]), atol=1e-5)
