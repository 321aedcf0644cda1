import numpy as np
import pytest
import torch
from lightly.loss import NTXentLoss
from PIL import Image

from data.manifest import training_rows
from model.backbone import BackboneConfig, FaceBackbone
from pretrain.simclr import SimCLR, face_transform
from pretrain.train import TwoViews, build
from training.checkpoint import load_state, save_state


@pytest.fixture
def face_crops(detector, astronaut_bgr) -> np.ndarray:
    from model.pipeline import FacePipeline

    crop = FacePipeline(detector).faces(astronaut_bgr)[0].crop
    rng = np.random.default_rng(0)
    # 8 distinct "faces": the astronaut's crop with different colour casts and noise
    return np.stack([np.clip(crop * rng.uniform(0.6, 1.2, 3) + rng.normal(0, 8, crop.shape), 0, 255).astype(np.uint8)
                     for _ in range(8)])


def test_transform_gives_two_normalised_views_of_the_input_size():
    views = face_transform(112)(Image.fromarray(np.full((112, 112, 3), 128, dtype=np.uint8)))
    assert len(views) == 2
    for view in views:
        assert view.shape == (3, 112, 112) and view.dtype == torch.float32
        assert -1.01 <= view.min() and view.max() <= 1.01


def test_loss_is_finite_and_falls_over_a_few_steps(face_crops):
    torch.manual_seed(0)
    model = SimCLR(FaceBackbone(BackboneConfig(embedding_dim=64)), projection_dim=32)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    criterion = NTXentLoss(temperature=0.2)
    dataset = TwoViews(face_crops, face_transform(112))
    view_a, view_b = (torch.stack(v) for v in zip(*[dataset[i] for i in range(len(dataset))], strict=False))
    losses = []
    for _ in range(8):  # the same tiny batch each step: the loss must go down
        loss = criterion(model(view_a), model(view_b))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(np.isfinite(losses))
    assert losses[-1] < losses[0] - 0.1


def test_save_then_resume_restores_weights_and_optimiser(tmp_path):
    params = {"init": "random:mobilenet_v3_small", "embedding_dim": 32, "projection_dim": 16, "lr": 1e-3,
              "weight_decay": 1e-4}
    torch.manual_seed(0)
    model, optimizer, _, _ = build(params)
    loss = model(torch.randn(4, 3, 112, 112)).square().mean()
    loss.backward()
    optimizer.step()
    save_state(tmp_path / "ckpt.pt", model=model, optimizer=optimizer, step=1)
    expected_random = torch.rand(3)

    torch.manual_seed(123)
    resumed, resumed_optimizer, _, _ = build(params)
    values = load_state(tmp_path / "ckpt.pt", model=resumed, optimizer=resumed_optimizer)
    assert values["step"] == 1
    for a, b in zip(model.state_dict().values(), resumed.state_dict().values(), strict=False):
        assert torch.equal(a, b)
    for a, b in zip(optimizer.state_dict()["state"].values(), resumed_optimizer.state_dict()["state"].values(),
                    strict=True):
        assert all(torch.equal(a[k], b[k]) for k in a)
    assert torch.equal(torch.rand(3), expected_random)  # the RNG continues where it was saved


def test_no_devtest_person_reaches_the_pretraining_loader(smoke_cache, data_dir):
    test_people = {line.split("\t")[0] for line in (data_dir / "lfw/peopleDevTest.txt").read_text().splitlines()[1:]}
    rows = training_rows(smoke_cache, "pretrain")
    assert rows and not {r["identity"] for r in rows} & test_people
