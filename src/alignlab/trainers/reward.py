"""The Bradley-Terry reward model of RLHF (Ouyang et al. 2022, sec. 3.5).

A sequence classifier with one output on the base policy's backbone, trained on the same
preference pairs as DPO; the score is read at the last response token. Optionally the score is
standardised to mean 0 and std 1 on base-policy samples (Ziegler et al. 2019), which keeps PPO's
KL coefficient meaningful across reward models.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from functools import partial

import torch

from alignlab.batch import Sequences
from alignlab.config import ExperimentConfig
from alignlab.data import collate_pairs
from alignlab.layout import TrainingDir
from alignlab.losses import bradley_terry_loss
from alignlab.models import (
    ModelSource,
    is_peft,
    load_causal_lm,
    load_reward_model,
    load_tokenizer,
    resolve_model_path,
    save_reward_normalization,
    with_adapter,
)
from alignlab.rollout import generate
from alignlab.scoring import sequence_scores, sequence_scores_in_chunks
from alignlab.trainers import TrainInputs
from alignlab.trainers.offline import OfflineRun, StepResult, split_train_eval


def score_base_samples(
    config: ExperimentConfig, reward_model: torch.nn.Module, prompts: Sequence[str], base: ModelSource | None
) -> torch.Tensor:
    """Reward-model scores of completions sampled from the base policy, one per prompt."""
    device = next(reward_model.parameters()).device
    tokenizer = load_tokenizer(config.model, base)
    policy = load_causal_lm(config.model, device, base, trainable=False)
    rollout = generate(policy, tokenizer, prompts, 1, config.generation, config.task.max_prompt_tokens)
    del policy
    return sequence_scores_in_chunks(reward_model, rollout, config.generation.batch_size)


class RewardForward(torch.nn.Module):
    """The reward model as one module whose forward returns its sequence scores ``(B,)``: DDP
    and accelerate's autocast wrap this forward (as ``PolicyForward``'s for a policy), so training
    under several processes synchronises the gradients and a wrapped model is never taken apart."""

    def __init__(self, classifier: torch.nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, batch: Sequences) -> torch.Tensor:
        return sequence_scores(self.classifier, batch)


def trainable_reward_model(config: ExperimentConfig, device: torch.device, base: ModelSource) -> torch.nn.Module:
    """The classifier to train: every weight, or with ``reward_model.lora`` a LoRA adapter and
    the score head on the frozen backbone."""
    if not config.reward_model.lora:
        return load_reward_model(config.model, device, base, trainable=True)
    return with_adapter(load_reward_model(config.model, device, base, trainable=False), config.model, "SEQ_CLS")


def reward_step(model: torch.nn.Module, batch: Sequences) -> StepResult:
    """Summed Bradley-Terry loss of a pair batch (chosen rows first); the unit is one pair."""
    scores = model(batch)
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
        len(batch),
    )


def train_reward_model(inputs: TrainInputs, run: TrainingDir) -> dict:
    """Train a reward model with the ``reward_model`` section on the pairs; save it under the
    run's ``model/``. ``inputs.prompts`` give the base-policy completions of the normalisation."""
    config = inputs.config
    cfg = config.reward_model
    base = inputs.init if inputs.init is not None else resolve_model_path(config.model.name_or_path)
    inputs = dataclasses.replace(inputs, init=base)
    with OfflineRun(inputs, run) as offline:
        model = trainable_reward_model(config, offline.device, base)
        model.config.pad_token_id = offline.tokenizer.pad_token_id
        train_items, eval_items = split_train_eval(
            offline.tokenize(inputs.require_pairs()), cfg.eval_fraction, inputs.seed, lambda pair: pair.prompt
        )
        collate = partial(collate_pairs, pad_token_id=offline.tokenizer.pad_token_id)
        offline.train(RewardForward(model), train_items, eval_items, collate, reward_step, snapshots=False)
        model = offline.accelerator.unwrap_model(offline.model).classifier.eval()
        if is_peft(model):
            # Saved as a plain classifier, whoever scores with it loads it like any other: merged
            # into a float32 copy (bf16 base weights would round small updates away), so that the
            # run's cost still counts the adapter as what trained.
            model = copy.deepcopy(model).to(torch.float32).merge_and_unload()
        mean, std = 0.0, 1.0
        if cfg.normalize:
            prompts = list(inputs.prompts or [])
            n = min(cfg.normalize_samples, len(prompts))
            scores = score_base_samples(config, model, prompts[:n], base)
            mean, std = float(scores.mean()), float(scores.std().clamp(min=1e-6))
        if offline.accelerator.is_main_process:
            model.save_pretrained(run.model, safe_serialization=True)
            offline.tokenizer.save_pretrained(run.model)
            save_reward_normalization(run.model, mean, std)
        summary = {
            "method": "reward_model",
            "train_pairs": len(train_items),
            "eval_pairs": len(eval_items),
            "normalization": {"mean": mean, "std": std},
        }
        return offline.finish(summary, save=False)
