"""The trainers, and the one dispatch from a method name to its trainer (used by the CLI, the
comparison and the Python API).

Offline, on preference pairs: ``dpo.py`` (DPO family, SimPO, ORPO), ``kto.py``; ``reward.py``
(the reward model) and ``sft.py``. Online, on prompts: ``ppo.py``, ``policy_gradient.py`` (GRPO
and its variants, RLOO, REINFORCE++), ``online_dpo.py``. Shared loops: ``offline.py``,
``online.py``, ``minibatches.py``; run plumbing: ``checkpoints.py``, ``costs.py``, ``outputs.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from alignlab.config import METHODS, ExperimentConfig
from alignlab.data import PreferencePair
from alignlab.errors import AlignlabError
from alignlab.models import ModelSource
from alignlab.tasks.rewards import Reward

PAIR_SECTIONS = ("dpo", "kto")
ONLINE_SECTIONS = ("ppo", "grpo", "rloo", "reinforce_pp", "online_dpo")
# Methods that, configured to, optimise a learned reward model (and so over-optimise it).
REWARD_MODEL_METHODS = {m for m, (section, _) in METHODS.items() if section in ONLINE_SECTIONS} | {"best-of-n"}


def section_of(method: str) -> str:
    if method not in METHODS:
        raise AlignlabError(f"unknown method '{method}'; known: {', '.join(METHODS)}")
    return METHODS[method][0]


def uses_reward_model(config: ExperimentConfig, method: str) -> bool:
    """Whether ``method`` as configured needs the learned reward model."""
    section = section_of(method)
    if method == "best-of-n":
        return config.best_of_n.scorer == "reward_model"
    if section in ONLINE_SECTIONS:
        return getattr(config, section).reward_source == "reward_model"
    return False


def uses_gold_reward(config: ExperimentConfig, method: str) -> bool:
    """Whether ``method`` queries the gold reward while training (PPO-GT, GRPO on gold, ...)."""
    section = section_of(method)
    if method == "best-of-n":
        return config.best_of_n.scorer == "gold"
    return section in ONLINE_SECTIONS and getattr(config, section).reward_source == "gold"


def train_method(
    method: str,
    config: ExperimentConfig,
    out_dir: Path,
    seed: int,
    resume: bool = False,
    *,
    pairs: Sequence[PreferencePair] | None = None,
    prompts: Sequence[str] | None = None,
    gold_reward: Reward | None = None,
    reward_model: ModelSource | None = None,
    init: ModelSource | None = None,
    reference_cache: Path | None = None,
) -> dict:
    """Train ``method`` with ``config`` (its section already holding the method's settings, see
    ``config.method_config``); the trainer's summary."""
    section = section_of(method)
    if section in PAIR_SECTIONS:
        if pairs is None:
            raise AlignlabError(f"{method} trains on preference pairs; give --data or a task that makes them")
        if section == "dpo":
            from alignlab.trainers.dpo import train_dpo

            return train_dpo(config, pairs, out_dir, seed, resume, init, reference_cache)
        from alignlab.trainers.kto import train_kto

        return train_kto(config, pairs, out_dir, seed, resume, init)
    if section not in ONLINE_SECTIONS:
        raise AlignlabError(f"{method} is not trained (it samples from the base policy)")
    if prompts is None or gold_reward is None:
        raise AlignlabError(f"{method} trains on prompts and needs a gold reward for its metrics")
    if section == "ppo":
        from alignlab.trainers.ppo import train_ppo

        return train_ppo(config, prompts, gold_reward, out_dir, seed, resume, reward_model, init)
    if section == "online_dpo":
        from alignlab.trainers.online_dpo import train_online_dpo

        return train_online_dpo(config, prompts, gold_reward, out_dir, seed, resume, reward_model, init)
    from alignlab.trainers.policy_gradient import train_policy_gradient

    return train_policy_gradient(
        method, getattr(config, section), config, prompts, gold_reward, out_dir, seed, resume, reward_model, init
    )
