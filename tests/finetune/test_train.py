import json
import re

import numpy as np
import pytest
import torch

from finetune.losses import ArcFace
from finetune.train import LabelledFaces, experiment_defaults, identities, overrides, run, variant_params
from model.backbone import BackboneConfig, FaceBackbone
from model.embedder import FaceEmbedder, load_backbone


def test_a_few_fine_tuning_steps_lower_the_loss_on_a_tiny_set():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 255, (12, 112, 112, 3), dtype=np.uint8)
    dataset = LabelledFaces(crops, [i % 3 for i in range(12)], augment=False)
    backbone = FaceBackbone(BackboneConfig(embedding_dim=32))
    head = ArcFace(32, 3, scale=16.0, margin=0.2)
    optimizer = torch.optim.AdamW([*backbone.parameters(), *head.parameters()], lr=1e-3)
    images, labels = torch.stack([dataset[i][0] for i in range(len(dataset))]), dataset.labels
    losses = []
    for _ in range(5):
        loss, _ = head(backbone(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_colour_augmentation_is_off_unless_asked():
    crops = np.random.default_rng(0).integers(0, 255, (1, 112, 112, 3), dtype=np.uint8)
    plain = LabelledFaces(crops, [0])
    plain.augment.transforms = plain.augment.transforms[2:]  # keep only the colour steps
    assert torch.equal(plain[0][0], LabelledFaces(crops, [0], augment=False)[0][0])
    grey = LabelledFaces(crops, [0], grayscale=1.0)
    grey.augment.transforms = grey.augment.transforms[2:]
    image = grey[0][0]
    assert torch.allclose(image[0], image[1], atol=1e-6) and torch.allclose(image[1], image[2], atol=1e-6)


def test_set_overrides_parse_yaml_values_and_refuse_unknown_keys():
    assert overrides(["min_photos=1", "export=null", "color_jitter=0.3"]) == {
        "min_photos": 1, "export": None, "color_jitter": 0.3}
    with pytest.raises(SystemExit, match="no_such_key"):
        overrides(["no_such_key=1"])
    with pytest.raises(SystemExit):
        overrides(["epochs"])


def test_an_experiment_never_replaces_the_served_model_unless_told():
    assert experiment_defaults([]) == {}
    defaults = experiment_defaults(["min_photos=1", "epochs=40"])
    assert defaults["export"] is None and defaults["out"] == "runs/experiments/epochs-40_min_photos-1"
    assert (experiment_defaults(["export=w.pt"]) | overrides(["export=w.pt"]))["export"] == "w.pt"


def test_identities_keep_people_with_enough_photos():
    rows = [{"identity": n} for n in ["a", "a", "b", "c", "c", "c"]]
    kept, labels, classes = identities(rows, min_photos=2)
    assert classes == 2 and len(kept) == 5 and sorted(set(labels)) == [0, 1]


@pytest.mark.slow
def test_smoke_pipeline_pretrain_then_finetune_then_reload(smoke_cache, tmp_path):
    """The real stages on real (few) photos: pretrain -> fine-tune -> checkpoint -> reload."""
    from pretrain.train import train as pretrain
    from training.params import load_params

    pre = load_params("pretrain", smoke=True) | {"out": str(tmp_path / "pre")}
    pretrain(pre, smoke_cache, resume=False)
    params = variant_params(True, None) | {"pretrained": str(tmp_path / "pre/backbone.pt"), "out": str(tmp_path / "ft")}
    summary = run(params, smoke_cache, tmp_path / "ft")
    assert 0 < summary["run"]["steps"] <= params["max_steps"]
    assert 0 <= summary["pairsDevTest"]["accuracy"] <= 1
    saved = json.loads((tmp_path / "ft/summary.json").read_text())
    assert saved["pairsDevTest"] == summary["pairsDevTest"]
    backbone, meta = load_backbone(tmp_path / "ft/backbone.pt")
    assert meta["threshold"] == summary["pairsDevTest"]["threshold"]
    interpolation = summary["run"]["interpolation"]  # chosen on the calibration people
    tar = interpolation["validation_tar"]
    assert sorted(map(float, tar)) == sorted(params["interpolate"]) and meta["interpolation"] == interpolation["alpha"]
    assert tar[interpolation["alpha"]] == max(tar.values())
    assert isinstance(summary["pairsDevTest"]["calibration"]["far_thresholds"], list)  # few pairs here: maybe empty
    crops = np.random.default_rng(0).integers(0, 255, (3, 112, 112, 3), dtype=np.uint8)
    again, _ = load_backbone(tmp_path / "ft/backbone.pt")
    assert np.array_equal(FaceEmbedder(backbone).embed(crops), FaceEmbedder(again).embed(crops))
    assert (tmp_path / "ft/curves.png").stat().st_size > 1000


def test_resume_continues_from_the_checkpoint(smoke_cache, tmp_path):
    params = variant_params(True, None) | {"init": "random:mobilenet_v3_small", "out": str(tmp_path / "ft"),
                                           "max_steps": 2, "epochs": 5}
    from finetune.train import train

    train(params, smoke_cache, tmp_path / "ft", resume=False)
    more = train(params | {"max_steps": 3}, smoke_cache, tmp_path / "ft", resume=True)
    assert more["steps"] == 3 and len(more["history"]) == 3


def test_export_names_the_served_model_by_its_tensors(tmp_path, monkeypatch):
    """Two exports of the same backbone on different days: the same version, no date in it;
    other weights: another version."""
    import time

    from finetune.train import export
    from model.embedder import ModelFacts, save_checkpoint

    torch.manual_seed(0)
    backbone = FaceBackbone(BackboneConfig(embedding_dim=32))
    calibration = {"far_thresholds": [{"far": 0.001, "threshold": 0.35}]}
    summary = {"params": {"init": "pretrained", "target_far": 0.001}}
    other = FaceBackbone(BackboneConfig(embedding_dim=32))
    versions = []
    for day, weights in (("20261201", backbone), ("20270315", backbone), ("20270315", other)):
        monkeypatch.setattr(time, "strftime", lambda *args, day=day: day)  # a run on another day
        out, reports = tmp_path / f"run{len(versions)}", tmp_path / f"reports{len(versions)}"
        reports.mkdir(parents=True)
        save_checkpoint(out / "backbone.pt", weights, threshold=0.35, flip=False, metrics={"calibration": calibration})
        (out / "curves.png").write_bytes(b"png")
        export(out, out / "face_embedder.pt", summary, reports)
        loaded, meta = load_backbone(out / "face_embedder.pt")
        facts = ModelFacts.of(meta, loaded.state_dict())
        assert meta["version_prefix"] == "mnv3s-simclr-arcface" and facts.version == meta["version"]
        assert facts.aliases == ()  # an exported version is already the content version
        versions.append(meta["version"])
    assert versions[0] == versions[1] != versions[2]
    assert re.fullmatch(r"mnv3s-simclr-arcface-[0-9a-f]{8}", versions[0])
