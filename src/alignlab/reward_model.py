"""Scoring completions for training and selection: a trained reward model's standardised score
(what PPO and the other online methods train on, what best-of-n picks by, what the report calls
the proxy), and ``TrainingReward``, the score an online trainer optimises (the reward model or the
gold reward, with the missing-EOS penalty).

A reward model with a tokenizer of its own (given by path or hub id) gets the texts
re-tokenised for it; one that shares the policy's tokenizer scores the policy's token ids as
they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from transformers import PreTrainedTokenizerBase

from alignlab.batch import Sequences, collate
from alignlab.config import ExperimentConfig, ModelConfig, OnlineTrainConfig
from alignlab.errors import AlignlabError
from alignlab.models import ModelSource, load_reward_model, load_reward_normalization, load_tokenizer
from alignlab.rollout import Rollout
from alignlab.scoring import sequence_scores_in_chunks
from alignlab.tasks.rewards import Reward
from alignlab.tokenization import encode_prompt, encode_response


def shares_vocabulary(tokenizer: PreTrainedTokenizerBase, other: PreTrainedTokenizerBase) -> bool:
    """Whether the two tokenizers give every token the same id: only then can a model of one
    read the other's token ids."""
    return tokenizer.get_vocab() == other.get_vocab()


class StandardizedRewardModel:
    """``scorer(rollout, prompts, texts) -> (B,)``: (raw score - mean) / std, with the
    normalisation saved beside the reward model (mean 0, std 1 when there is none)."""

    def __init__(
        self,
        model_config: ModelConfig,
        device: torch.device,
        source: ModelSource,
        policy_tokenizer: PreTrainedTokenizerBase,
        max_prompt_tokens: int,
        batch_size: int,
    ) -> None:
        self.model = load_reward_model(model_config, device, source)
        self.mean, self.std = load_reward_normalization(source) if isinstance(source, str) else (0.0, 1.0)
        tokenizer = load_tokenizer(model_config, source)
        self.own_tokenizer = None if shares_vocabulary(tokenizer, policy_tokenizer) else tokenizer
        self.max_prompt_tokens = max_prompt_tokens
        self.batch_size = batch_size

    def _batch(self, rollout: Rollout, prompts: Sequence[str], texts: Sequence[str]) -> Sequences:
        if self.own_tokenizer is None:
            return rollout
        tok = self.own_tokenizer
        prompt_rows = [encode_prompt(tok, p, self.max_prompt_tokens) for p in prompts]
        response_rows = [encode_response(tok, t, bool(e)).ids for t, e in zip(texts, rollout.ended.tolist())]
        return collate(prompt_rows, response_rows, tok.pad_token_id)

    def __call__(self, rollout: Rollout, prompts: Sequence[str], texts: Sequence[str]) -> torch.Tensor:
        raw = sequence_scores_in_chunks(self.model, self._batch(rollout, prompts, texts), self.batch_size)
        return (raw - self.mean) / self.std


class TrainingReward:
    """The score an online trainer optimises: the reward model's standardised score, or the
    task's gold reward; plus ``missing_eos_penalty`` for a response cut at the length limit.
    The gold reward is reported for every iteration either way."""

    def __init__(
        self,
        config: ExperimentConfig,
        train_config: OnlineTrainConfig,
        gold: Reward,
        device: torch.device,
        reward_model: ModelSource | None,
        policy_tokenizer: PreTrainedTokenizerBase,
    ) -> None:
        self.gold = gold
        self.missing_eos_penalty = train_config.missing_eos_penalty
        self.reward_model: StandardizedRewardModel | None = None
        if train_config.reward_source == "reward_model":
            if reward_model is None:
                raise AlignlabError("reward_source=reward_model needs a trained reward model (--reward-model DIR)")
            self.reward_model = StandardizedRewardModel(
                config.model,
                device,
                reward_model,
                policy_tokenizer,
                config.task.max_prompt_tokens,
                config.generation.batch_size,
            )

    @property
    def models_in_memory(self) -> int:
        return 0 if self.reward_model is None else 1

    @torch.no_grad()
    def __call__(
        self, rollout: Rollout, prompts: Sequence[str], texts: Sequence[str]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(score used for training, gold reward), both ``(B,)`` on the CPU."""
        gold = torch.tensor(self.gold(list(prompts), list(texts)), dtype=torch.float32)
        score = gold.clone() if self.reward_model is None else self.reward_model(rollout, prompts, texts)
        if self.missing_eos_penalty:
            score = score + self.missing_eos_penalty * (~rollout.ended.cpu()).float()
        return score, gold
