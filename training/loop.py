"""The one training loop both stages run (pretrain/train.py, finetune/train.py): a budget of
epochs, steps *or* minutes (training.schedule), a resumable checkpoint saved every few
minutes and at the end, the same shuffled order per epoch whether or not the run resumed.
Each stage supplies its step: the loss of one batch, what to record, what to show.

The checkpoint holds model, optimizer, RNG and the state: step, history, seconds and the
stage's own entries (e.g. fine-tuning's evals).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from training.checkpoint import load_state, save_state
from training.schedule import progress as schedule_progress
from training.schedule import set_lr

# (batch, learning rate, state) -> (loss to minimise, the history row after the step number,
# progress-bar entries)
Step = Callable[[tuple, float, dict], tuple[torch.Tensor, tuple, dict]]


def epoch_order(size: int, seed: int, epoch: int) -> list[int]:
    """The same shuffled order for an epoch whether or not the run was resumed."""
    generator = torch.Generator().manual_seed(seed * 1000 + epoch)
    return torch.randperm(size, generator=generator).tolist()


def train_loop(params: dict, dataset: Dataset, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
               step: Step, checkpoint: Path, resume: bool, desc: str, state: dict | None = None,
               train_mode: Callable[[], None] = lambda: None,
               after_epoch: Callable[[dict, int], None] = lambda state, steps_per_epoch: None,
               images_per_sample: int = 1) -> dict:
    """Runs `step` over shuffled batches until the budget (params: batch_size, epochs, max_steps,
    max_minutes, lr, seed, workers, checkpoint_minutes) is spent. `state`: the stage's own
    entries, saved and restored with the rest. Returns the state with steps_per_epoch and batch."""
    batch = min(params["batch_size"], len(dataset))
    steps_per_epoch = len(dataset) // batch
    total_steps = params["epochs"] * steps_per_epoch
    if params.get("max_steps"):
        total_steps = min(total_steps, params["max_steps"])
    state = {"step": 0, "history": [], "seconds": 0.0, **(state or {})}
    if resume and checkpoint.exists():
        state = load_state(checkpoint, model=model, optimizer=optimizer)
        print(f"resumed at step {state['step']}/{total_steps}")

    def save() -> None:
        save_state(checkpoint, model=model, optimizer=optimizer, **state)

    started, last_save = time.time() - state["seconds"], time.time()
    max_seconds = params["max_minutes"] * 60

    def fraction() -> float:
        return schedule_progress(state["step"], total_steps, time.time() - started, max_seconds)
    progress = tqdm(total=total_steps, initial=state["step"], desc=desc, unit="step")
    while fraction() < 1.0:
        epoch, offset = divmod(state["step"], steps_per_epoch)
        order = epoch_order(len(dataset), params["seed"], epoch)[offset * batch : steps_per_epoch * batch]
        loader = DataLoader(dataset, batch_size=batch, sampler=order, num_workers=params.get("workers", 1),
                            drop_last=True, persistent_workers=False)
        train_mode()
        for inputs in loader:
            tick = time.time()
            lr = set_lr(optimizer, params["lr"], fraction())
            loss, row, shown = step(inputs, lr, state)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            state["step"] += 1
            state["seconds"] = time.time() - started
            state["history"].append((state["step"], *row))
            progress.set_postfix(epoch=epoch, **shown,
                                 img_s=f"{images_per_sample * batch / max(1e-6, time.time() - tick):.0f}")
            progress.update()
            if time.time() - last_save > params["checkpoint_minutes"] * 60:
                save()
                last_save = time.time()
            if fraction() >= 1.0:
                break
        after_epoch(state, steps_per_epoch)
    progress.close()
    save()
    return state | {"steps_per_epoch": steps_per_epoch, "batch": batch}
