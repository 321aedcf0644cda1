"""Guards for training a pretrained network: frozen blocks, frozen statistics, the anchor,
weight imprinting."""
import torch

from finetune.losses import ArcFace
from finetune.train import imprint
from model.backbone import BackboneConfig, FaceBackbone
from training.transfer import WeightAnchor, blend, frozen_prefix, set_train_mode


def small_backbone() -> FaceBackbone:
    return FaceBackbone(BackboneConfig(embedding_dim=16))


def test_frozen_prefix_gets_no_gradient_and_keeps_its_statistics():
    backbone = small_backbone()
    frozen = frozen_prefix(backbone, 3)
    set_train_mode(backbone, frozen, freeze_bn_stats=False)
    before = [m.running_mean.clone() for f in frozen for m in f.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    backbone(torch.randn(4, 3, 112, 112)).sum().backward()
    assert all(p.grad is None for f in frozen for p in f.parameters())
    assert all(p.grad is not None for p in backbone.output.parameters())
    after = [m.running_mean for f in frozen for m in f.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=False))


def test_freeze_bn_stats_puts_every_batch_norm_in_eval_mode():
    backbone = small_backbone()
    set_train_mode(backbone, [], freeze_bn_stats=True)
    norms = [m for m in backbone.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert norms and not any(m.training for m in norms)
    assert backbone.output[1].training  # dropout still trains


def test_anchor_is_zero_at_the_start_and_grows_with_distance():
    backbone = small_backbone()
    anchor = WeightAnchor(backbone, 0.5)
    assert anchor().item() == 0.0
    with torch.no_grad():
        backbone.output[3].bias += 1.0
    assert anchor().item() == 0.5 * 16


def test_imprinting_starts_each_class_at_its_first_embeddings_once():
    head = ArcFace(4, classes=3)
    seen = torch.zeros(3, dtype=torch.bool)
    embeddings = torch.tensor([[2.0, 0, 0, 0], [0, 0, 3.0, 0], [0, 0, 1.0, 0]])
    imprint(head, embeddings, torch.tensor([0, 2, 2]), seen)
    assert torch.allclose(head.weight[0], torch.tensor([1.0, 0, 0, 0]))
    assert torch.allclose(head.weight[2], torch.tensor([0, 0, 1.0, 0]))
    assert seen.tolist() == [True, False, True]
    imprint(head, torch.tensor([[0, 1.0, 0, 0]]), torch.tensor([0]), seen)
    assert torch.allclose(head.weight[0], torch.tensor([1.0, 0, 0, 0]))  # not re-imprinted


def test_blend_moves_along_the_line_from_start_to_tuned():
    start, tuned = small_backbone().state_dict(), small_backbone().state_dict()
    tuned = {name: value + 1 if value.is_floating_point() else value + 5 for name, value in tuned.items()}
    backbone = small_backbone()
    for alpha in (0.0, 0.25, 1.0):
        blend(backbone, start, tuned, alpha)
        for name, value in backbone.state_dict().items():
            if value.is_floating_point():
                torch.testing.assert_close(value, start[name] + alpha * (tuned[name] - start[name]))
            else:  # BatchNorm's batch counter: the tuned one
                assert torch.equal(value, tuned[name])


def test_random_init_names_its_architecture_and_takes_the_cache_crops():
    import pytest

    from model.alignment import FACE_SIZE
    from training.transfer import start_backbone

    backbone = start_backbone({"init": "random:mobilenet_v3_small", "embedding_dim": 32})
    assert (backbone.config.name, backbone.config.embedding_dim, backbone.config.input_size) == (
        "mobilenet_v3_small", 32, FACE_SIZE)
    sface = start_backbone({"init": "random:sface", "embedding_dim": 32})  # sface fixes its own sizes
    assert (sface.config.name, sface.config.embedding_dim) == ("sface", 128)
    with pytest.raises(ValueError, match="random:mobilenet_v3_small"):
        start_backbone({"init": "random"})  # which network? the init says
