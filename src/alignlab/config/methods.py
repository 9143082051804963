"""The registry of methods: what each method is, said once and read everywhere else.

A ``Method`` names its config section (where its settings live), the settings that make it this
method (e.g. Dr. GRPO is the ``grpo`` section with ``loss_type: dr_grpo``), what it learns from,
its trainer, and its paper. What depends on the settings, whether it optimises the learned reward
model or the gold reward and how many samples it draws per prompt, is a method of ``Method``
reading the config. The comparison, the trainers, the CLI, the API and the report all read this
table; adding a method is one entry here (plus its loss, its config section if it needs a new
one, its trainer if the shared loops do not serve, and its test).

This module imports nothing heavy: the CLI reads it before any model library is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

# What a method learns from: preference pairs (offline), prompts it samples for itself and a
# score of its samples (online), demonstrations (SFT), or nothing trained: samples of the base
# policy picked by a score (best-of-n).
Inputs = Literal["pairs", "prompts", "demonstrations", "base_samples"]
# What a method's training signal comes from, for the report's over-optimisation analysis and the
# gold-query count: the preference pairs, the learned reward model, or the gold reward itself.
Signal = Literal["preferences", "reward_model", "gold"]

_DPO = "alignlab.trainers.dpo:train_dpo"
_POLICY_GRADIENT = "alignlab.trainers.policy_gradient:train_policy_gradient"


@dataclass(frozen=True)
class Method:
    """One method: its name, config section, fixed settings, inputs, trainer and paper."""

    name: str
    section: str
    inputs: Inputs
    trainer: str | None
    paper: str
    preset: Mapping[str, Any] = field(default_factory=dict)
    # False for the stages alignlab trains on the way (SFT, the reward model): `alignlab train`
    # runs them, a comparison does not list them as methods.
    compared: bool = True

    @property
    def online(self) -> bool:
        return self.inputs == "prompts"

    def signal(self, config: Any) -> Signal:
        """Where this method's training signal comes from under ``config`` (an ExperimentConfig)."""
        if self.inputs == "prompts":
            return getattr(config, self.section).reward_source
        if self.inputs == "base_samples":
            return config.best_of_n.scorer
        return "preferences"

    def optimises_reward_model(self, config: Any) -> bool:
        """Whether the method, as configured, optimises (and so can over-optimise) the reward model."""
        return self.signal(config) == "reward_model"

    def samples_per_prompt(self, config: Any) -> int:
        """Completions an online method samples per prompt (its group), 1 for the others."""
        if not self.online:
            return 1
        return int(getattr(getattr(config, self.section), "group_size", 2 if self.section == "online_dpo" else 1))


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("dpo", "dpo", "pairs", _DPO, "Rafailov et al. 2023", {"loss_type": "sigmoid", "label_smoothing": 0.0}),
        Method(
            "cdpo",
            "dpo",
            "pairs",
            _DPO,
            "Mitchell 2023 (conservative DPO)",
            {"loss_type": "sigmoid", "label_smoothing": 0.1},
        ),
        Method("ipo", "dpo", "pairs", _DPO, "Azar et al. 2024", {"loss_type": "ipo"}),
        Method("hinge", "dpo", "pairs", _DPO, "Zhao et al. 2023 (SLiC-HF)", {"loss_type": "hinge"}),
        Method("rdpo", "dpo", "pairs", _DPO, "Chowdhury et al. 2024", {"loss_type": "robust", "label_smoothing": 0.1}),
        Method("simpo", "dpo", "pairs", _DPO, "Meng et al. 2024", {"loss_type": "simpo", "beta": 2.0}),
        Method("orpo", "dpo", "pairs", _DPO, "Hong et al. 2024", {"loss_type": "orpo", "beta": 0.1}),
        Method("kto", "kto", "pairs", "alignlab.trainers.kto:train_kto", "Ethayarajh et al. 2024"),
        Method(
            "ppo",
            "ppo",
            "prompts",
            "alignlab.trainers.ppo:train_ppo",
            "Ouyang et al. 2022; Huang et al. 2024",
            {"reward_source": "reward_model"},
        ),
        Method(
            "ppo-gt",
            "ppo",
            "prompts",
            "alignlab.trainers.ppo:train_ppo",
            "Rafailov et al. 2023, sec. 6.1",
            {"reward_source": "gold"},
        ),
        Method("grpo", "grpo", "prompts", _POLICY_GRADIENT, "Shao et al. 2024"),
        Method(
            "dr-grpo",
            "grpo",
            "prompts",
            _POLICY_GRADIENT,
            "Liu et al. 2025",
            {"loss_type": "dr_grpo", "scale_rewards": False},
        ),
        Method(
            "dapo",
            "grpo",
            "prompts",
            _POLICY_GRADIENT,
            "Yu et al. 2025",
            {"loss_type": "dapo", "clip_range_low": 0.2, "clip_range_high": 0.28, "drop_zero_variance_groups": True},
        ),
        Method(
            "gspo",
            "grpo",
            "prompts",
            _POLICY_GRADIENT,
            "Zheng et al. 2025",
            {
                "loss_type": "grpo",
                "importance_sampling_level": "sequence",
                "clip_range_low": 3e-4,
                "clip_range_high": 4e-4,
            },
        ),
        Method("rloo", "rloo", "prompts", _POLICY_GRADIENT, "Ahmadian et al. 2024"),
        Method("reinforce++", "reinforce_pp", "prompts", _POLICY_GRADIENT, "Hu 2025"),
        Method(
            "online-dpo", "online_dpo", "prompts", "alignlab.trainers.online_dpo:train_online_dpo", "Guo et al. 2024"
        ),
        Method("best-of-n", "best_of_n", "base_samples", None, "Stiennon et al. 2020; Gao et al. 2023"),
        Method("sft", "sft", "demonstrations", "alignlab.trainers.sft:train_sft", "Ouyang et al. 2022", compared=False),
        Method(
            "rm",
            "reward_model",
            "pairs",
            "alignlab.trainers.reward:train_reward_model",
            "Ouyang et al. 2022, sec. 3.5",
            compared=False,
        ),
    )
}

COMPARED = tuple(name for name, m in METHODS.items() if m.compared)
TRAINABLE = tuple(name for name, m in METHODS.items() if m.trainer is not None)
