import re

import numpy as np
import torch

from model.backbone import BackboneConfig, FaceBackbone
from model.embedder import FaceEmbedder, ModelFacts, content_version, load_backbone, save_checkpoint, version_prefix
from tests.conftest import REPO


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


def test_the_version_names_the_tensors_not_the_day_or_the_meta():
    torch.manual_seed(0)
    weights = FaceBackbone(BackboneConfig(embedding_dim=32)).state_dict()
    same = {name: tensor.clone() for name, tensor in reversed(weights.items())}  # equal tensors, other order
    version = content_version("mnv3s-arcface", weights)
    assert re.fullmatch(r"mnv3s-arcface-[0-9a-f]{8}", version)
    assert content_version("mnv3s-arcface", same) == version
    assert ModelFacts.of({"version": "mnv3s-arcface-20240101", "threshold": 0.3}, weights).version == version
    exported = {"version_prefix": "mnv3s-arcface", "version": version, "flip": False}
    assert ModelFacts.of(exported, same).version == version

    changed = dict(same)
    name = next(n for n, t in changed.items() if t.is_floating_point())
    changed[name] = changed[name].clone()
    changed[name].view(-1)[0] += 1e-3
    assert content_version("mnv3s-arcface", changed) != version
    retyped = dict(same, **{name: same[name].double()})  # same values, another dtype
    assert content_version("mnv3s-arcface", retyped) != version


def test_a_dated_version_becomes_an_alias_of_the_content_version():
    weights = FaceBackbone(BackboneConfig(embedding_dim=32)).state_dict()
    dated = ModelFacts.of({"version": "sface-simclr-arcface-20261201"}, weights)
    assert dated.version == content_version("sface-simclr-arcface", weights)
    assert dated.aliases == ("sface-simclr-arcface-20261201",)
    exported = ModelFacts.of({"version_prefix": "sface-simclr-arcface", "version": dated.version}, weights)
    assert exported.version == dated.version and exported.aliases == ()
    # a stored version that no longer matches the tensors is an earlier name too: never served as is
    stale = ModelFacts.of({"version_prefix": "sface-simclr-arcface", "version": "sface-simclr-arcface-0badc0de"},
                          weights)
    assert stale.version == dated.version and stale.aliases == ("sface-simclr-arcface-0badc0de",)
    assert ModelFacts.of({}, weights).version.startswith("unknown-")


def test_the_committed_weights_keep_their_dated_name_as_an_alias():
    backbone, meta = load_backbone(REPO / "weights" / "face_embedder.pt")
    facts = ModelFacts.of(meta, backbone.state_dict())
    assert re.fullmatch(rf"{re.escape(version_prefix(meta))}-[0-9a-f]{{8}}", facts.version), facts.version
    assert not re.search(r"-\d{8}$", version_prefix(meta))
    # the name galleries were enrolled under and reports/metrics.json records stays valid
    assert meta["version"] in (facts.version, *facts.aliases)
