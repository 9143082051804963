"""Resumable checkpoints, and snapshots of the policy along training for the evaluation's
checkpoint curves."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from accelerate import Accelerator
from accelerate.utils.constants import SAFE_MODEL_NAME
from safetensors import safe_open
from safetensors.torch import load_model
from torch import nn
from transformers import PreTrainedTokenizerBase

from alignlab.errors import AlignlabError
from alignlab.layout import TrainingDir
from alignlab.log import logger
from alignlab.trainers.outputs import save_policy

LATEST_FILE = "latest"
STATE_FILE = "trainer_state.json"

# accelerate warns on every save of a model with tied embeddings that it dropped the tied copy;
# load_state re-ties it (the resume tests check that a restored run ends identical).
_ACCELERATE_SAVE_LOGGER = "accelerate.utils.other"


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    quieted = logging.getLogger(logger_name)
    level = quieted.level
    quieted.setLevel(logging.ERROR)
    try:
        yield
    finally:
        quieted.setLevel(level)


def _trained_names(model: nn.Module) -> set[str] | None:
    """The names of ``model``'s trained parameters when some of its parameters are frozen (a LoRA
    adapter on its base), else None (everything trains)."""
    parameters = list(model.named_parameters())
    trained = {name for name, parameter in parameters if parameter.requires_grad}
    return trained if len(trained) < len(parameters) else None


def _keep_trained_weights(models: list[nn.Module], weights: list[dict], output_dir: str) -> None:
    """``accelerator.save_state`` pre-hook: a model with frozen parameters is saved as its trained
    ones only. Resuming rebuilds the frozen rest from the base, so saving it again would only cost
    disk and time (557 MB a checkpoint for SmolLM2 with a 19 MB adapter)."""
    for model, state in zip(models, weights, strict=True):
        trained = _trained_names(model)
        if trained is not None:
            for name in [name for name in state if name not in trained]:
                del state[name]


def _load_trained_weights(models: list[nn.Module], input_dir: str) -> None:
    """``accelerator.load_state`` pre-hook, the counterpart of :func:`_keep_trained_weights`. When
    no model has frozen parameters, accelerate loads them all itself. Otherwise every model is
    loaded here (accelerate names a model's file by its place in the list, so none can be left to
    it alone), a model with frozen parameters from its trained ones, all of which must be in the
    file; the list is then emptied so that accelerate loads only the rest of the state."""
    if all(_trained_names(model) is None for model in models):
        return
    for index, model in enumerate(models):
        path = Path(input_dir) / f"{SAFE_MODEL_NAME}{f'_{index}' if index else ''}.safetensors"
        device = str(next(model.parameters()).device)
        trained = _trained_names(model)
        if trained is None:
            load_model(model, path, device=device)
            continue
        with safe_open(path, framework="pt", device=device) as saved:
            missing = trained - set(saved.keys())
            if missing:
                raise AlignlabError(
                    f"{path} lacks trained weights of this run ({', '.join(sorted(missing)[:3])}, ...): "
                    "it was written by another model or adapter layout; start the run afresh"
                )
            state = {name: saved.get_tensor(name) for name in trained}
        model.load_state_dict(state, strict=False)
    models.clear()


class Checkpointer:
    """Resumable checkpoints under the run's ``checkpoints/``: model, optimizer, scheduler and RNG
    states (``accelerator.save_state``; of a model with frozen parameters, its trained ones) plus
    the trainer's own state (step, data position, history) as JSON. Written to a temporary
    directory first, then renamed, and only then named in ``latest`` (itself replaced
    atomically), so a kill at any moment leaves a usable one."""

    def __init__(self, accelerator: Accelerator, run: TrainingDir) -> None:
        self.accelerator = accelerator
        self.root = run.checkpoints
        accelerator.register_save_state_pre_hook(_keep_trained_weights)
        accelerator.register_load_state_pre_hook(_load_trained_weights)

    def latest(self) -> Path | None:
        pointer = self.root / LATEST_FILE
        if not pointer.is_file():
            return None
        path = self.root / pointer.read_text(encoding="utf-8").strip()
        return path if (path / STATE_FILE).is_file() else None

    def save(self, step: int, state: dict[str, Any]) -> None:
        name = f"step-{step:07d}"
        final = self.root / name
        tmp = self.root / f".{name}.tmp"
        if self.accelerator.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        self.accelerator.wait_for_everyone()
        with _quiet(_ACCELERATE_SAVE_LOGGER):
            self.accelerator.save_state(str(tmp))
        if self.accelerator.is_main_process:
            (tmp / STATE_FILE).write_text(json.dumps(state), encoding="utf-8")
            shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
            pointer_tmp = self.root / f".{LATEST_FILE}.tmp"
            pointer_tmp.write_text(name, encoding="utf-8")
            os.replace(pointer_tmp, self.root / LATEST_FILE)
            for old in self.root.glob("step-*"):
                if old.name != name:
                    shutil.rmtree(old, ignore_errors=True)
        self.accelerator.wait_for_everyone()

    def restore(self) -> dict[str, Any] | None:
        """Load the latest checkpoint into the prepared objects; its trainer state, or None."""
        path = self.latest()
        if path is None:
            return None
        self.accelerator.load_state(str(path))
        logger.info("resumed from %s", path)
        return json.loads((path / STATE_FILE).read_text(encoding="utf-8"))


class Snapshots:
    """Saves the policy at ``count`` evenly spaced points of training (the last point is the
    final model, saved anyway), so that evaluation can draw each run's curve on the reward-KL
    plane rather than one point. Called after every optimizer step or iteration."""

    def __init__(
        self,
        accelerator: Accelerator,
        model: nn.Module,
        tokenizer: PreTrainedTokenizerBase,
        run: TrainingDir,
        total: int,
        count: int,
    ) -> None:
        self.accelerator, self.model, self.tokenizer, self.run = accelerator, model, tokenizer, run
        self.points = sorted({round(total * k / count) for k in range(1, count)} - {0, total}) if count > 1 else []

    def __call__(self, step: int) -> None:
        if step in self.points:
            save_policy(self.accelerator, self.model, self.tokenizer, self.run.snapshot(step))
