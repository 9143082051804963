"""A comparison's run stopped as a killed process would stop it, inside the test's own process:
trained until a chosen method of the training loop has returned once, then interrupted (what the
launchers' resume tests start from)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from alignlab.config import load_config
from alignlab.experiment import Experiment, RunSpec
from alignlab.layout import ComparisonDir, TrainingDir


class Killed(Exception):
    pass


def train_until(comparison_dir: Path, run: RunSpec, owner: type, method: str) -> TrainingDir:
    """``run`` trained as the serial comparison in ``comparison_dir`` trains it (its saved config
    and shared stages, one torch thread: float results depend on the thread count) until
    ``owner.method`` (e.g. ``Checkpointer.save``) has returned once, then stopped; its directory."""
    original = getattr(owner, method)

    def then_die(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        raise Killed

    comparison = ComparisonDir(comparison_dir)
    out = comparison.run(run.method, dict(run.params), run.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(owner, method, then_die)
            experiment = Experiment(load_config(comparison.config), comparison)
            with pytest.raises(Killed):
                experiment.train(run, out)
    finally:
        torch.set_num_threads(threads)
    return out
