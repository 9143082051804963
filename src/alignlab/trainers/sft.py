"""Supervised fine-tuning: next-token loss on response tokens only (prompt and padding masked).

Used for tasks whose base model has not yet seen their kind of response (hub data sets, the seed
task on a real model): the SFT model then serves as the policy's start and the reference.
The loss is the mean over every response token of an optimizer step (all micro-batches and
processes together), so gradient accumulation never re-weights long and short examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch

from alignlab.batch import Sequences, collate
from alignlab.data import tokenize_example
from alignlab.errors import DataError
from alignlab.layout import TrainingDir
from alignlab.scoring import PolicyForward
from alignlab.trainers import TrainInputs
from alignlab.trainers.offline import OfflineRun, StepResult, split_train_eval


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
    return StepResult(nll, tokens, {}, int(batch.attention_mask.sum()), len(batch))


def collate_demonstrations(rows: list[tuple[list[int], list[int]]], pad_token_id: int) -> Sequences:
    return collate([p for p, _ in rows], [r for _, r in rows], pad_token_id)


def train_sft(inputs: TrainInputs, run: TrainingDir) -> dict:
    """Fine-tune with the ``sft`` section on the pairs' chosen responses (the demonstrations);
    save the model under the run's ``model/``."""
    cfg = inputs.config.sft
    task = inputs.config.task
    demonstrations = [(pair.prompt, pair.chosen) for pair in inputs.require_pairs()]
    with OfflineRun(inputs, run) as offline:
        items = tokenize_demonstrations(
            offline.tokenizer, demonstrations, task.max_prompt_tokens, task.max_response_tokens, task.overlong
        )
        if not items:
            raise DataError("SFT: no usable demonstrations (all were skipped as over-long)")
        train_items, eval_items = split_train_eval(items, cfg.eval_fraction, inputs.seed, lambda item: item[0])
        result = offline.train(
            PolicyForward(offline.load_policy()),
            train_items,
            eval_items,
            partial(collate_demonstrations, pad_token_id=offline.tokenizer.pad_token_id),
            sft_step,
            snapshots=False,
        )
        final = dict(result.eval_history[-1]) if result.eval_history else {}
        if "eval/loss" in final:
            final["eval/perplexity"] = float(torch.exp(torch.tensor(final["eval/loss"])))
        return offline.finish({"method": "sft", "final_eval": final})
