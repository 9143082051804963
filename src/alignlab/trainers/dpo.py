"""DPO and its relatives (IPO, hinge/SLiC, conservative and robust DPO).

The recipe:
1. tokenise the preference pairs and hold out ``eval_fraction`` of them;
2. compute the reference log-probs of every chosen and rejected response once, with the initial
   policy and no gradient, and cache them on disk: no reference model is kept in memory;
3. per batch, send chosen and rejected rows through the policy in one concatenated forward,
   sum (or average) the response-token log-probs, and apply the loss of ``losses.dpo_loss``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from alignlab.config import ExperimentConfig
from alignlab.data import PreferencePair, TokenizedPair, collate_pairs, tokenize_pairs
from alignlab.errors import DataError
from alignlab.log import logger
from alignlab.losses import dpo_loss, sequence_logprobs
from alignlab.models import count_parameters, is_peft, load_policy, load_tokenizer, reference_mode
from alignlab.progress import progress_task
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

REFERENCE_FILE = "reference_logps.safetensors"


@dataclass
class DPOItem:
    pair: TokenizedPair
    reference_chosen: float = 0.0
    reference_rejected: float = 0.0


def collate_dpo(items: Sequence[DPOItem], pad_token_id: int) -> dict[str, torch.Tensor]:
    batch = collate_pairs([item.pair for item in items], pad_token_id)
    batch["reference_chosen"] = torch.tensor([item.reference_chosen for item in items], dtype=torch.float32)
    batch["reference_rejected"] = torch.tensor([item.reference_rejected for item in items], dtype=torch.float32)
    return batch


def policy_sequence_logprobs(model: torch.nn.Module, batch: dict[str, torch.Tensor], average: bool) -> torch.Tensor:
    """log pi(y|x) of every row of a pair batch: ``(2B,)``, chosen rows first."""
    scores = score_responses(
        model, batch["prompt_ids"], batch["prompt_mask"], batch["response_ids"], batch["response_mask"]
    )
    return sequence_logprobs(scores.logprobs, batch["response_mask"], average=average)


@torch.no_grad()
def reference_logprobs(
    model: torch.nn.Module,
    items: list[DPOItem],
    pad_token_id: int,
    batch_size: int,
    average: bool,
    device: torch.device,
) -> None:
    """Fill in the reference log-probs of every item (one pass, no gradient). Items go through
    in order of length so that batches carry little padding."""
    was_training = model.training
    model.eval()
    order = sorted(
        range(len(items)),
        key=lambda i: len(items[i].pair.prompt) + max(len(items[i].pair.chosen), len(items[i].pair.rejected)),
    )
    with progress_task("reference log-probs", len(items)) as advance:
        for start in range(0, len(order), batch_size):
            chunk = [items[i] for i in order[start : start + batch_size]]
            batch = {k: v.to(device) for k, v in collate_dpo(chunk, pad_token_id).items()}
            logps = policy_sequence_logprobs(model, batch, average).cpu()
            for item, chosen, rejected in zip(chunk, logps[: len(chunk)], logps[len(chunk) :]):
                item.reference_chosen, item.reference_rejected = float(chosen), float(rejected)
            advance(len(chunk))
    model.train(was_training)


def train_dpo(
    config: ExperimentConfig,
    pairs: Sequence[PreferencePair],
    out_dir: Path,
    seed: int,
    resume: bool = False,
    init_path: str | None = None,
    reference_cache: Path | None = None,
) -> dict:
    """Train a policy with ``config.dpo`` on ``pairs``; save it under ``out_dir/model``.
    Returns the summary (final held-out metrics and costs).

    The reference log-probs are cached in ``reference_cache`` (default: the run directory) and
    read from it when it exists: runs that share pairs and reference share one pass."""
    cfg = config.dpo
    accelerator = create_accelerator(cfg, out_dir, seed)
    with PeakMemory() as memory:
        tokenizer = load_tokenizer(config.model, init_path)
        policy = load_policy(config.model, accelerator.device, init_path)
        tokenized, report = tokenize_pairs(
            tokenizer, pairs, config.task.max_prompt_tokens, config.task.max_response_tokens, config.task.overlong
        )
        if not tokenized:
            raise DataError("DPO: no usable preference pairs (all were skipped as over-long)")
        if report.truncated or report.skipped:
            logger.info("DPO data: %d pairs truncated, %d skipped as over-long", report.truncated, report.skipped)
        items = [DPOItem(pair) for pair in tokenized]

        # The reference is the policy before training (with a LoRA adapter: the adapter disabled).
        reference_path = reference_cache or out_dir / REFERENCE_FILE
        cached = load_file(str(reference_path)) if reference_path.is_file() and (resume or reference_cache) else None
        if cached is not None and cached["chosen"].shape[0] == len(items):
            for item, chosen, rejected in zip(items, cached["chosen"].tolist(), cached["rejected"].tolist()):
                item.reference_chosen, item.reference_rejected = chosen, rejected
        else:
            with reference_mode(policy, None if is_peft(policy) else policy) as reference:
                reference_logprobs(
                    reference,
                    items,
                    tokenizer.pad_token_id,
                    2 * cfg.batch_size,
                    cfg.average_log_prob,
                    accelerator.device,
                )
            if accelerator.is_main_process:
                tmp = reference_path.with_name(f".{reference_path.name}.tmp")
                save_file(
                    {
                        "chosen": torch.tensor([i.reference_chosen for i in items]),
                        "rejected": torch.tensor([i.reference_rejected for i in items]),
                    },
                    str(tmp),
                )
                os.replace(tmp, reference_path)

        train_items, eval_items = split_train_eval(items, cfg.eval_fraction, seed)

        def step_fn(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
            logps = policy_sequence_logprobs(model, batch, cfg.average_log_prob)
            n = logps.shape[0] // 2
            detached = logps.detach()
            out = dpo_loss(
                logps[:n],
                logps[n:],
                batch["reference_chosen"],
                batch["reference_rejected"],
                beta=cfg.beta,
                loss_type=cfg.loss_type,
                label_smoothing=cfg.label_smoothing,
            )
            margin = out.chosen_rewards - out.rejected_rewards
            return out.losses.mean(), {
                "rewards/chosen": float(out.chosen_rewards.mean()),
                "rewards/rejected": float(out.rejected_rewards.mean()),
                "rewards/margin": float(margin.mean()),
                "rewards/accuracy": float((margin > 0).float().mean()),
                "logps/chosen": float(detached[:n].mean()),
                "logps/rejected": float(detached[n:].mean()),
            }

        policy, result = train_offline(
            name="dpo",
            accelerator=accelerator,
            model=policy,
            config=cfg,
            train_items=train_items,
            eval_items=eval_items,
            collate=lambda batch: collate_dpo(batch, tokenizer.pad_token_id),
            step_fn=step_fn,
            out_dir=out_dir,
            seed=seed,
            resume=resume,
        )
        save_policy(accelerator, policy, tokenizer, out_dir / MODEL_DIR)
    trainable, _ = count_parameters(policy)
    cost = Cost(result.train_time_s, result.tokens, memory.peak_mb, models_in_memory=1, trainable_params=trainable)
    summary = {
        "method": "dpo",
        "loss_type": cfg.loss_type,
        "beta": cfg.beta,
        "steps": result.steps,
        "train_pairs": len(train_items),
        "eval_pairs": len(eval_items),
        "final_eval": result.eval_history[-1] if result.eval_history else {},
        "cost": cost.as_dict(),
    }
    write_run_files(accelerator, out_dir, {"train": result.history, "eval": result.eval_history}, summary)
    return summary
