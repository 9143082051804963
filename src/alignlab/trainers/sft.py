"""Supervised fine-tuning: next-token loss on response tokens only (prompt and padding masked).

Used for tasks whose base model has not yet seen their kind of response (hub data sets, the seed
task on a real model): the SFT model then serves as the policy's start and the reference.
The loss is the mean over every response token of an optimizer step (all micro-batches and
processes together), so gradient accumulation never re-weights long and short examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from alignlab.batch import Sequences, collate
from alignlab.config import ExperimentConfig
from alignlab.data import tokenize_example
from alignlab.errors import DataError
from alignlab.models import ModelSource, count_parameters, load_policy, load_tokenizer
from alignlab.scoring import TokenScorer
from alignlab.trainers.common import (
    MODEL_DIR,
    Cost,
    PeakMemory,
    create_accelerator,
    save_policy,
    write_run_files,
)
from alignlab.trainers.offline import StepResult, split_train_eval, train_offline


def tokenize_demonstrations(
    tokenizer, examples: Sequence[tuple[str, str]], max_prompt_tokens: int, max_response_tokens: int, overlong: str
) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, response ids + EOS) per example; over-long ones truncated or skipped."""
    out = []
    for prompt, response in examples:
        prompt_ids, (response_ids,), cut = tokenize_example(
            tokenizer, prompt, [(response, True)], max_prompt_tokens, max_response_tokens
        )
        if cut and overlong == "skip":
            continue
        out.append((prompt_ids, response_ids))
    return out


def sft_step(model: torch.nn.Module, batch: Sequences) -> StepResult:
    """Summed negative log-likelihood of the response tokens; the unit is one token."""
    scores = model(batch)
    mask = batch.response_mask.float()
    nll = -(scores.logprobs * mask).sum()
    tokens = float(mask.sum())
    return StepResult(nll, tokens, {}, int(batch.attention_mask.sum()))


def train_sft(
    config: ExperimentConfig,
    examples: Sequence[tuple[str, str]],
    out_dir: Path,
    seed: int,
    resume: bool = False,
    init: ModelSource | None = None,
) -> dict:
    """Fine-tune on (prompt, response) demonstrations with ``config.sft``; save under ``out_dir/model``."""
    cfg = config.sft
    accelerator = create_accelerator(cfg, out_dir, seed)
    with PeakMemory() as memory:
        tokenizer = load_tokenizer(config.model, init)
        model = TokenScorer(load_policy(config.model, accelerator.device, init))
        items = tokenize_demonstrations(
            tokenizer, examples, config.task.max_prompt_tokens, config.task.max_response_tokens, config.task.overlong
        )
        if not items:
            raise DataError("SFT: no usable demonstrations (all were skipped as over-long)")
        train_items, eval_items = split_train_eval(items, cfg.eval_fraction, seed)
        model, result = train_offline(
            name="sft",
            accelerator=accelerator,
            model=model,
            config=cfg,
            train_items=train_items,
            eval_items=eval_items,
            collate=lambda rows: collate([p for p, _ in rows], [r for _, r in rows], tokenizer.pad_token_id),
            step_fn=sft_step,
            out_dir=out_dir,
            seed=seed,
            resume=resume,
        )
        save_policy(accelerator, model, tokenizer, out_dir / MODEL_DIR)
    trainable, _ = count_parameters(model)
    final = dict(result.eval_history[-1]) if result.eval_history else {}
    if "eval/loss" in final:
        final["eval/perplexity"] = float(torch.exp(torch.tensor(final["eval/loss"])))
    summary = {
        "method": "sft",
        "steps": result.steps,
        "final_eval": final,
        "cost": Cost(result.train_time_s, result.tokens, memory.peak_mb, 1, trainable).as_dict(),
    }
    write_run_files(accelerator, out_dir, {"train": result.history, "eval": result.eval_history}, summary)
    return summary
