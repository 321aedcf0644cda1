"""The serving embedder (BatchNorm folded into the convs) is a drop-in for FaceEmbedder:
same interface, same embeddings up to float rounding, the caller's network untouched."""
import numpy as np
import torch
from torch import nn

from model.backbone import BackboneConfig, FaceBackbone
from model.embedder import FaceEmbedder
from model.fast_embedder import FusedBackbone, fused_embedder


def crops(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (n, 112, 112, 3), dtype=np.uint8)


def trained_like_backbone() -> FaceBackbone:
    """Random init with non-trivial batch-norm statistics (what folding has to get right)."""
    torch.manual_seed(0)
    backbone = FaceBackbone(BackboneConfig(embedding_dim=64))
    for module in backbone.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.2, 0.2)
    return backbone.eval()


def test_fused_embeddings_equal_the_reference():
    backbone = trained_like_backbone()
    batch = crops(6)
    for flip in (True, False):
        reference = FaceEmbedder(backbone, flip=flip).embed(batch)
        fused = fused_embedder(backbone, flip=flip).embed(batch)
        assert fused.shape == reference.shape == (6, 64)
        assert np.abs(fused - reference).max() < 1e-4


def test_fusing_folds_every_conv_batch_norm_and_leaves_the_original_alone():
    backbone = trained_like_backbone()
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    fused = FusedBackbone(backbone)
    assert fused.config == backbone.config
    conv_bn = sum(isinstance(m, nn.BatchNorm2d) for m in backbone.features.modules())
    assert conv_bn > 0
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fused.net.features.modules())
    assert all(torch.equal(before[k], v) for k, v in backbone.state_dict().items())
    assert backbone.features[0][1].__class__ is nn.BatchNorm2d


def test_drop_in_interface():
    embedder = fused_embedder(trained_like_backbone(), batch_size=4)
    assert embedder.embed([]).shape == (0, 64)
    out = embedder.embed(crops(9))
    assert out.shape == (9, 64) and np.allclose(np.linalg.norm(out, axis=1), 1, atol=1e-5)
    assert embedder.backbone.config.embedding_dim == 64
