"""Supervised fine-tuning: next-token loss on response tokens only (prompt and padding masked).

Used for tasks whose base model has not yet seen their kind of response (hub data sets, the seed
task on a real model): the SFT model then serves as the policy's start and the reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from alignlab.config import ExperimentConfig
from alignlab.data import collate_responses, encode_response
from alignlab.errors import DataError
from alignlab.losses import masked_mean
from alignlab.models import count_parameters, load_policy, load_tokenizer
from alignlab.rollout import score_responses
from alignlab.trainers.common import (
    MODEL_DIR,
    Cost,
    PeakMemory,
    create_accelerator,
    save_policy,
    write_run_files,
)
from alignlab.trainers.loop import split_train_eval, train_offline


def tokenize_demonstrations(
    tokenizer, examples: Sequence[tuple[str, str]], max_prompt_tokens: int, max_response_tokens: int, overlong: str
) -> list[tuple[list[int], list[int]]]:
    """(prompt ids, response ids + EOS) per example; over-long ones truncated or skipped."""
    out = []
    for prompt, response in examples:
        prompt_ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
        response_ids = encode_response(tokenizer, response)
        if len(prompt_ids) > max_prompt_tokens or len(response_ids) > max_response_tokens:
            if overlong == "skip":
                continue
            prompt_ids, response_ids = prompt_ids[-max_prompt_tokens:], response_ids[:max_response_tokens]
        out.append((prompt_ids, response_ids))
    return out


def train_sft(
    config: ExperimentConfig,
    examples: Sequence[tuple[str, str]],
    out_dir: Path,
    seed: int,
    resume: bool = False,
    init_path: str | None = None,
) -> dict:
    """Fine-tune on (prompt, response) demonstrations with ``config.sft``; save under ``out_dir/model``."""
    cfg = config.sft
    accelerator = create_accelerator(cfg, out_dir, seed)
    with PeakMemory() as memory:
        tokenizer = load_tokenizer(config.model, init_path)
        policy = load_policy(config.model, accelerator.device, init_path)
        items = tokenize_demonstrations(
            tokenizer, examples, config.task.max_prompt_tokens, config.task.max_response_tokens, config.task.overlong
        )
        if not items:
            raise DataError("SFT: no usable demonstrations (all were skipped as over-long)")
        train_items, eval_items = split_train_eval(items, cfg.eval_fraction, seed)

        def collate(batch: list[tuple[list[int], list[int]]]) -> dict[str, torch.Tensor]:
            return collate_responses([p for p, _ in batch], [r for _, r in batch], tokenizer.pad_token_id)

        def step_fn(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
            scores = score_responses(
                model, batch["prompt_ids"], batch["prompt_mask"], batch["response_ids"], batch["response_mask"]
            )
            nll = masked_mean(-scores.logprobs, batch["response_mask"].float())
            return nll, {"perplexity": float(torch.exp(nll.detach()))}

        policy, result = train_offline(
            name="sft",
            accelerator=accelerator,
            model=policy,
            config=cfg,
            train_items=train_items,
            eval_items=eval_items,
            collate=collate,
            step_fn=step_fn,
            out_dir=out_dir,
            seed=seed,
            resume=resume,
        )
        save_policy(accelerator, policy, tokenizer, out_dir / MODEL_DIR)
    trainable, _ = count_parameters(policy)
    summary = {
        "method": "sft",
        "steps": result.steps,
        "final_eval": result.eval_history[-1] if result.eval_history else {},
        "cost": Cost(result.train_time_s, result.tokens, memory.peak_mb, 1, trainable).as_dict(),
    }
    write_run_files(accelerator, out_dir, {"train": result.history, "eval": result.eval_history}, summary)
    return summary
