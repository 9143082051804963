"""The Bradley-Terry reward model of RLHF (Ouyang et al. 2022, sec. 3.5).

A sequence classifier with one output on the base policy's backbone, trained on the same
preference pairs as DPO; the score is read at the last response token. Optionally the score is
standardised to mean 0 and std 1 on base-policy samples (Ziegler et al. 2019), which keeps PPO's
KL coefficient meaningful across reward models.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from alignlab.batch import Sequences
from alignlab.config import ExperimentConfig
from alignlab.data import PreferencePair, collate_pairs, tokenize_pairs
from alignlab.errors import DataError
from alignlab.log import logger
from alignlab.losses import bradley_terry_loss
from alignlab.models import (
    ModelSource,
    count_parameters,
    load_causal_lm,
    load_reward_model,
    load_tokenizer,
    resolve_model_path,
    save_reward_normalization,
)
from alignlab.rollout import generate
from alignlab.scoring import sequence_scores
from alignlab.trainers.common import (
    MODEL_DIR,
    Cost,
    PeakMemory,
    create_accelerator,
    write_run_files,
)
from alignlab.trainers.offline import StepResult, split_train_eval, train_offline


@torch.no_grad()
def score_batches(reward_model: torch.nn.Module, batch: Sequences, batch_size: int) -> torch.Tensor:
    """Raw reward-model scores ``(B,)`` of a batch, in chunks of ``batch_size`` rows."""
    device = next(reward_model.parameters()).device
    return torch.cat([sequence_scores(reward_model, part.to(device)).cpu() for part in batch.chunks(batch_size)])


def score_base_samples(
    config: ExperimentConfig, reward_model: torch.nn.Module, prompts: Sequence[str], base: ModelSource | None
) -> torch.Tensor:
    """Reward-model scores of completions sampled from the base policy, one per prompt."""
    device = next(reward_model.parameters()).device
    tokenizer = load_tokenizer(config.model, base)
    policy = load_causal_lm(config.model, device, base, trainable=False)
    rollout = generate(policy, tokenizer, prompts, 1, config.generation, config.task.max_prompt_tokens)
    del policy
    return score_batches(reward_model, rollout, config.generation.batch_size)


def reward_step(model: torch.nn.Module, batch: Sequences) -> StepResult:
    """Summed Bradley-Terry loss of a pair batch (chosen rows first); the unit is one pair."""
    scores = sequence_scores(model, batch)
    n = scores.shape[0] // 2
    chosen, rejected = scores[:n], scores[n:]
    loss = bradley_terry_loss(chosen, rejected).sum()
    chosen, rejected = chosen.detach(), rejected.detach()
    return StepResult(
        loss,
        float(n),
        {
            "accuracy": float((chosen > rejected).float().sum()),
            "margin": float((chosen - rejected).sum()),
            "scores/chosen": float(chosen.sum()),
            "scores/rejected": float(rejected.sum()),
        },
        int(batch.attention_mask.sum()),
    )


def train_reward_model(
    config: ExperimentConfig,
    pairs: Sequence[PreferencePair],
    prompts: Sequence[str],
    out_dir: Path,
    seed: int,
    resume: bool = False,
    init: ModelSource | None = None,
) -> dict:
    """Train a reward model with ``config.reward_model`` on ``pairs``; save it under
    ``out_dir/model``. ``prompts`` are used to sample base-policy completions for normalisation."""
    cfg = config.reward_model
    accelerator = create_accelerator(cfg, out_dir, seed)
    base = init if init is not None else resolve_model_path(config.model.name_or_path)
    with PeakMemory() as memory:
        tokenizer = load_tokenizer(config.model, base)
        model = load_reward_model(config.model, accelerator.device, base, trainable=True)
        model.config.pad_token_id = tokenizer.pad_token_id
        tokenized, report = tokenize_pairs(
            tokenizer, pairs, config.task.max_prompt_tokens, config.task.max_response_tokens, config.task.overlong
        )
        if not tokenized:
            raise DataError("reward model: no usable preference pairs (all were skipped as over-long)")
        if report.truncated or report.skipped:
            logger.info(
                "reward model data: %d pairs truncated, %d skipped as over-long", report.truncated, report.skipped
            )
        train_items, eval_items = split_train_eval(tokenized, cfg.eval_fraction, seed)

        model, result = train_offline(
            name="reward_model",
            accelerator=accelerator,
            model=model,
            config=cfg,
            train_items=train_items,
            eval_items=eval_items,
            collate=lambda batch: collate_pairs(batch, tokenizer.pad_token_id),
            step_fn=reward_step,
            out_dir=out_dir,
            seed=seed,
            resume=resume,
        )
        model = accelerator.unwrap_model(model)
        model.eval()
        mean, std = 0.0, 1.0
        if cfg.normalize:
            n = min(cfg.normalize_samples, len(prompts))
            scores = score_base_samples(config, model, prompts[:n], base)
            mean, std = float(scores.mean()), float(scores.std().clamp(min=1e-6))
        if accelerator.is_main_process:
            model.save_pretrained(out_dir / MODEL_DIR, safe_serialization=True)
            tokenizer.save_pretrained(out_dir / MODEL_DIR)
            save_reward_normalization(out_dir / MODEL_DIR, mean, std)
    trainable, _ = count_parameters(model)
    summary = {
        "method": "reward_model",
        "steps": result.steps,
        "train_pairs": len(train_items),
        "eval_pairs": len(eval_items),
        "final_eval": result.eval_history[-1] if result.eval_history else {},
        "normalization": {"mean": mean, "std": std},
        "cost": Cost(result.train_time_s, result.tokens, memory.peak_mb, 1, trainable).as_dict(),
    }
    write_run_files(accelerator, out_dir, {"train": result.history, "eval": result.eval_history}, summary)
    return summary
