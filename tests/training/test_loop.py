"""training/loop.py: the one loop of both training stages."""
from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from training.checkpoint import seed_everything
from training.loop import epoch_order, train_loop

PARAMS = {"batch_size": 4, "epochs": 3, "max_steps": None, "max_minutes": 60, "lr": 0.1, "seed": 0,
          "workers": 0, "checkpoint_minutes": 0}  # checkpoint after every step


def test_epoch_order_is_reproducible_and_a_permutation():
    assert epoch_order(50, 0, 3) == epoch_order(50, 0, 3)
    assert sorted(epoch_order(50, 0, 3)) == list(range(50))
    assert epoch_order(50, 0, 3) != epoch_order(50, 0, 4)


class Stop(Exception):
    pass


def run(tmp_path, resume: bool = False, stop_at: int | None = None):
    seed_everything(0)
    dataset = TensorDataset(torch.randn(20, 3), torch.randn(20, 1))
    model = torch.nn.Linear(3, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=PARAMS["lr"])
    epochs_seen = []

    def step(batch, lr, state):
        if stop_at is not None and state["step"] == stop_at:
            raise Stop
        x, y = batch
        loss = torch.nn.functional.mse_loss(model(x), y)
        state["extra"] += 1
        return loss, (loss.item(), lr), {"loss": f"{loss.item():.3f}"}

    state = train_loop(PARAMS, dataset, model, optimizer, step, tmp_path / "checkpoint.pt", resume, "test",
                       state={"extra": 0}, after_epoch=lambda state, per_epoch: epochs_seen.append(state["step"]))
    return state, model, epochs_seen


def test_runs_the_budget_and_calls_the_stage_hooks(tmp_path):
    state, _, epochs_seen = run(tmp_path)
    assert state["steps_per_epoch"] == 5 and state["step"] == 15 == state["extra"]
    assert [row[0] for row in state["history"]] == list(range(1, 16))
    assert epochs_seen == [5, 10, 15]
    assert (tmp_path / "checkpoint.pt").is_file()


def test_a_resumed_run_ends_where_an_uninterrupted_one_does(tmp_path):
    whole, model, _ = run(tmp_path / "a")
    with pytest.raises(Stop):
        run(tmp_path / "b", stop_at=7)
    resumed, resumed_model, _ = run(tmp_path / "b", resume=True)
    assert resumed["step"] == 15 and resumed["extra"] == 15  # the stage's own state comes back too
    assert [r[0] for r in resumed["history"]] == [r[0] for r in whole["history"]]
    assert torch.allclose(model.weight, resumed_model.weight, atol=1e-6)
