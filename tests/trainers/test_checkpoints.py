"""Resumable checkpoints (atomic: a checkpoint is usable, or not named at all) and the snapshots
the evaluation's checkpoint curves are drawn from."""

from __future__ import annotations

import pytest
import torch
from safetensors import safe_open
from torch import nn

from alignlab.config import TrainConfig
from alignlab.errors import AlignlabError
from alignlab.layout import TrainingDir
from alignlab.optim import build_optimizer, create_accelerator
from alignlab.trainers.checkpoints import LATEST_FILE, Checkpointer, Snapshots


def adapted(seed: int) -> nn.Module:
    """A frozen base (the same for every seed, as a base reloaded on resume is) and a trained
    head started from ``seed``, as a LoRA adapter sits on its base."""
    torch.manual_seed(0)
    base = nn.Linear(4, 4).requires_grad_(False)
    torch.manual_seed(seed)
    return nn.Sequential(base, nn.Linear(4, 2))


def prepared(run: TrainingDir, seed: int, model: nn.Module | None = None):
    accelerator = create_accelerator(TrainConfig(), run.path, seed)
    torch.manual_seed(seed)
    model = nn.Linear(4, 2) if model is None else model
    optimizer = build_optimizer(model, TrainConfig(lr=0.1))
    model, optimizer = accelerator.prepare(model, optimizer)
    return accelerator, model, optimizer


def test_a_checkpoint_restores_weights_optimizer_and_trainer_state(tmp_path) -> None:
    run = TrainingDir(tmp_path)
    accelerator, model, optimizer = prepared(run, seed=0)
    model(torch.ones(3, 4)).sum().backward()
    optimizer.step()
    checkpointer = Checkpointer(accelerator, run)
    checkpointer.save(7, {"step": 7, "history": [{"loss": 1.5}]})
    weights, moments = model.weight.detach().clone(), optimizer.state_dict()["state"][0]["exp_avg"].clone()

    accelerator, model, optimizer = prepared(run, seed=1)  # other weights, a fresh optimizer
    assert not torch.equal(model.weight, weights)
    state = Checkpointer(accelerator, run).restore()
    assert state == {"step": 7, "history": [{"loss": 1.5}]}
    assert torch.equal(model.weight, weights)
    assert torch.equal(optimizer.state_dict()["state"][0]["exp_avg"], moments)


def test_a_partly_frozen_model_is_checkpointed_as_its_trained_weights(tmp_path) -> None:
    run = TrainingDir(tmp_path)
    accelerator, model, optimizer = prepared(run, seed=0, model=adapted(seed=0))
    model(torch.ones(3, 4)).sum().backward()
    optimizer.step()
    Checkpointer(accelerator, run).save(1, {"step": 1})
    trained = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
    with safe_open(run.checkpoints / "step-0000001" / "model.safetensors", framework="pt") as saved:
        assert set(saved.keys()) == set(trained) == {"1.weight", "1.bias"}

    accelerator, model, optimizer = prepared(run, seed=1, model=adapted(seed=1))
    assert Checkpointer(accelerator, run).restore() == {"step": 1}
    assert all(torch.equal(model.get_parameter(name), value) for name, value in trained.items())
    assert torch.equal(model[0].weight, adapted(seed=0)[0].weight)  # the base as it was built


def test_a_checkpoint_without_the_runs_trained_weights_is_refused(tmp_path) -> None:
    run = TrainingDir(tmp_path)
    accelerator, _, _ = prepared(run, seed=0)  # a fully trained nn.Linear(4, 2): "weight", "bias"
    Checkpointer(accelerator, run).save(1, {"step": 1})
    accelerator, _, _ = prepared(run, seed=0, model=adapted(seed=0))
    with pytest.raises(AlignlabError, match="lacks trained weights of this run"):
        Checkpointer(accelerator, run).restore()


def test_only_the_latest_checkpoint_is_kept_and_named(tmp_path) -> None:
    run = TrainingDir(tmp_path)
    accelerator, _, _ = prepared(run, seed=0)
    checkpointer = Checkpointer(accelerator, run)
    assert checkpointer.latest() is None and checkpointer.restore() is None
    checkpointer.save(1, {"step": 1})
    checkpointer.save(2, {"step": 2})
    assert [p.name for p in run.checkpoints.glob("step-*")] == ["step-0000002"]
    assert (run.checkpoints / LATEST_FILE).read_text() == "step-0000002"
    assert checkpointer.latest() == run.checkpoints / "step-0000002"


def test_a_checkpoint_cut_off_before_its_state_is_never_used(tmp_path) -> None:
    """A kill between writing the weights and the trainer state leaves a directory without the
    state file: ``latest`` must not lead to it."""
    run = TrainingDir(tmp_path)
    accelerator, _, _ = prepared(run, seed=0)
    checkpointer = Checkpointer(accelerator, run)
    checkpointer.save(1, {"step": 1})
    (run.checkpoints / "step-0000001" / "trainer_state.json").unlink()
    assert checkpointer.latest() is None


@pytest.mark.parametrize(("total", "count", "points"), [(12, 3, [4, 8]), (10, 4, [2, 5, 8]), (5, 1, []), (2, 4, [1])])
def test_snapshots_are_evenly_spaced_inside_training(tmp_path, total, count, points) -> None:
    snapshots = Snapshots(None, None, None, TrainingDir(tmp_path), total, count)
    assert snapshots.points == points


def test_snapshot_directories_are_read_back_in_training_order(tmp_path) -> None:
    run = TrainingDir(tmp_path)
    for step in (12, 3, 7):
        run.snapshot(step).mkdir(parents=True)
    (tmp_path / "snapshots" / "step-0000099").mkdir()  # no model inside: not a snapshot
    assert [step for step, _ in run.snapshots()] == [3, 7, 12]
    assert run.snapshots()[0][1] == tmp_path / "snapshots" / "step-0000003" / "model"
