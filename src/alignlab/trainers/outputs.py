"""What a training run writes: its directory, the trained policy, the metric history and the
summary."""

from __future__ import annotations

import copy
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator, PartialState
from torch import nn
from transformers import PreTrainedTokenizerBase

from alignlab.errors import AlignlabError
from alignlab.files import write_json
from alignlab.layout import ADAPTER_DIR, TrainingDir
from alignlab.models import is_peft


@dataclass
class History:
    """Per-step metrics: kept for the report and checkpoints, and sent to TensorBoard."""

    rows: list[dict[str, float]] = field(default_factory=list)

    def log(self, accelerator: Accelerator, step: int, metrics: dict[str, float]) -> None:
        row = {"step": step, **{k: float(v) for k, v in metrics.items()}}
        self.rows.append(row)
        accelerator.log({k: v for k, v in row.items() if k != "step"}, step=step)


def prepare_out_dir(out_dir: Path, resume: bool) -> bool:
    """Refuse to overwrite a finished or partial run unless resuming it. Under several processes
    only the main one checks and creates it (the others would see the directory it just made)
    while the others wait for it; returns whether this is the main process."""
    state = PartialState(cpu=not torch.cuda.is_available())
    if state.is_main_process:
        if out_dir.exists() and any(out_dir.iterdir()) and not resume:
            raise AlignlabError(
                f"output directory '{out_dir}' is not empty; pass --resume to continue it or pick another"
            )
        out_dir.mkdir(parents=True, exist_ok=True)
    state.wait_for_everyone()
    return state.is_main_process


def save_policy(
    accelerator: Accelerator, model: nn.Module, tokenizer: PreTrainedTokenizerBase, directory: Path
) -> None:
    """``save_pretrained`` the trained policy and tokenizer (main process only). A LoRA policy is
    saved twice: the adapter under ``adapter/`` and the merged weights under ``directory``, so
    any tool can load the result with ``AutoModelForCausalLM``."""
    accelerator.wait_for_everyone()
    if not accelerator.is_main_process:
        return
    policy = accelerator.unwrap_model(model)
    policy = getattr(policy, "policy", policy)
    if is_peft(policy):
        policy.save_pretrained(directory.parent / ADAPTER_DIR)
        # Merge into a float32 copy: merging into bf16 base weights would round small updates
        # away, and training may go on after a snapshot.
        policy = copy.deepcopy(policy).to(torch.float32).merge_and_unload()
    elif next(policy.parameters()).dtype != torch.float32:
        policy = copy.deepcopy(policy).to(torch.float32)
    policy.save_pretrained(directory, safe_serialization=True)
    tokenizer.save_pretrained(directory)


def write_run_files(
    accelerator: Accelerator, run: TrainingDir, history: dict[str, Any], summary: dict[str, Any]
) -> None:
    """The training curves and the summary of a finished run (the summary last: its presence
    marks the run as trained)."""
    summary["processes"] = accelerator.num_processes
    if accelerator.is_main_process:
        write_json(run.history, history)
        write_json(run.summary, summary)
        # A trained run is never resumed: its checkpoints would only hold disk (3 GB for a
        # fully trained 268M reward model).
        shutil.rmtree(run.checkpoints, ignore_errors=True)
