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
# Online DPO samples a pair per prompt and labels it (Guo et al. 2024).
ONLINE_DPO_PAIR = 2
_POLICY_GRADIENT = "alignlab.trainers.policy_gradient:train_policy_gradient"


@dataclass(frozen=True)
class SearchRange:
    """One dimension of a method's declared search space: ``[low, high]`` on a log scale, or
    (``relative``) that range times the configured value (the learning rate, whose scale is the
    model's, not the method's), with where the range comes from."""

    low: float
    high: float
    source: str
    relative: bool = False

    def bounds(self, configured: float) -> tuple[float, float]:
        scale = configured if self.relative else 1.0
        return self.low * scale, self.high * scale


# Every trained method searches its learning rate over the same relative range around its
# preset's value: the presets' rates suit their model (1e-3 for a 1M-parameter model trained
# from scratch, 1e-6 for Qwen3-0.6B), so a paper's absolute range would not transfer.
LEARNING_RATE = SearchRange(1 / 3, 3.0, "the preset's learning rate divided or multiplied by up to 3", relative=True)


def _space(**coefficients: SearchRange) -> dict[str, SearchRange]:
    return {"lr": LEARNING_RATE, **coefficients}


DPO_BETA = SearchRange(0.05, 0.5, "Rafailov et al. 2023 (beta 0.1 to 0.5); TRL's default 0.1")
KL_COEF = SearchRange(0.01, 0.2, "Ziegler et al. 2019; the N+ implementation details' 0.05; TRL's default 0.05")
GRPO_KL = SearchRange(0.005, 0.1, "Shao et al. 2024 (beta 0.04)")


@dataclass(frozen=True)
class Method:
    """One method: its name, config section, fixed settings, inputs, trainer and paper."""

    name: str
    section: str
    inputs: Inputs
    trainer: str | None
    paper: str
    preset: Mapping[str, Any] = field(default_factory=dict)
    # The settings a tuning search varies (the learning rate and the method's main coefficient),
    # the same number of trials for every trained method; empty: not tuned (best-of-n).
    search: Mapping[str, SearchRange] = field(default_factory=dict)
    # Sequences through a gradient pass per training example: a preference pair is two (chosen
    # and rejected), a KTO example or a sampled completion one.
    sequences_per_example: int = 1
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
        return int(
            getattr(getattr(config, self.section), "group_size", ONLINE_DPO_PAIR if self.section == "online_dpo" else 1)
        )

    def budget_settings(self, config: Any, sequences: int) -> dict[str, int]:
        """The settings of this method's section that make it train ``sequences`` sequences in
        all (``budget.sequences``): an offline method's optimizer steps (``max_steps``), an online
        method's iterations. Rounded down to whole steps, at least one."""
        section = getattr(config, self.section)
        if self.online:
            per_iteration = section.prompts_per_iteration * self.samples_per_prompt(config) * section.update_epochs
            return {"iterations": max(1, sequences // per_iteration)}
        return {"max_steps": max(1, sequences // (section.batch_size * self.sequences_per_example))}


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "dpo",
            "dpo",
            "pairs",
            _DPO,
            "Rafailov et al. 2023",
            {"loss_type": "sigmoid", "label_smoothing": 0.0},
            _space(beta=DPO_BETA),
            sequences_per_example=2,
        ),
        Method(
            "cdpo",
            "dpo",
            "pairs",
            _DPO,
            "Mitchell 2023 (conservative DPO)",
            {"loss_type": "sigmoid", "label_smoothing": 0.1},
            _space(beta=DPO_BETA),
            sequences_per_example=2,
        ),
        Method(
            "ipo",
            "dpo",
            "pairs",
            _DPO,
            "Azar et al. 2024",
            {"loss_type": "ipo"},
            _space(beta=SearchRange(0.05, 1.0, "Azar et al. 2024 (tau 0.1 to 1); TRL's default 0.1")),
            sequences_per_example=2,
        ),
        Method(
            "hinge",
            "dpo",
            "pairs",
            _DPO,
            "Zhao et al. 2023 (SLiC-HF)",
            {"loss_type": "hinge"},
            _space(beta=DPO_BETA),
            sequences_per_example=2,
        ),
        Method(
            "rdpo",
            "dpo",
            "pairs",
            _DPO,
            "Chowdhury et al. 2024",
            {"loss_type": "robust", "label_smoothing": 0.1},
            _space(beta=DPO_BETA),
            sequences_per_example=2,
        ),
        Method(
            "simpo",
            "dpo",
            "pairs",
            _DPO,
            "Meng et al. 2024",
            {"loss_type": "simpo", "beta": 2.0},
            _space(beta=SearchRange(1.0, 10.0, "Meng et al. 2024, their search (beta 2 to 10)")),
            sequences_per_example=2,
        ),
        Method(
            "orpo",
            "dpo",
            "pairs",
            _DPO,
            "Hong et al. 2024",
            {"loss_type": "orpo", "beta": 0.1},
            _space(beta=SearchRange(0.05, 1.0, "Hong et al. 2024 (lambda 0.1, ablated to 1); TRL's default 0.1")),
            sequences_per_example=2,
        ),
        Method(
            "kto",
            "kto",
            "pairs",
            "alignlab.trainers.kto:train_kto",
            "Ethayarajh et al. 2024",
            search=_space(beta=SearchRange(0.05, 0.5, "Ethayarajh et al. 2024 (beta 0.1 by default); TRL's 0.1")),
        ),
        Method(
            "ppo",
            "ppo",
            "prompts",
            "alignlab.trainers.ppo:train_ppo",
            "Ouyang et al. 2022; Huang et al. 2024",
            {"reward_source": "reward_model"},
            _space(kl_coef=KL_COEF),
        ),
        Method(
            "ppo-gt",
            "ppo",
            "prompts",
            "alignlab.trainers.ppo:train_ppo",
            "Rafailov et al. 2023, sec. 6.1",
            {"reward_source": "gold"},
            _space(kl_coef=KL_COEF),
        ),
        Method(
            "grpo",
            "grpo",
            "prompts",
            _POLICY_GRADIENT,
            "Shao et al. 2024",
            {"loss_type": "grpo", "scale_rewards": True, "importance_sampling_level": "token"},
            _space(kl_coef=GRPO_KL),
        ),
        Method(
            "dr-grpo",
            "grpo",
            "prompts",
            _POLICY_GRADIENT,
            "Liu et al. 2025",
            {"loss_type": "dr_grpo", "scale_rewards": False, "importance_sampling_level": "token"},
            _space(kl_coef=GRPO_KL),
        ),
        Method(
            "dapo",
            "grpo",
            "prompts",
            _POLICY_GRADIENT,
            "Yu et al. 2025",
            # Token-level loss, clip-higher, dynamic sampling, and no KL term (sec. 2.3 of the paper).
            {
                "loss_type": "dapo",
                "clip_range_low": 0.2,
                "clip_range_high": 0.28,
                "dynamic_sampling": True,
                "kl_coef": 0.0,
                "importance_sampling_level": "token",
            },
            _space(
                clip_range_high=SearchRange(0.22, 0.4, "Yu et al. 2025 (epsilon_high 0.28 against epsilon_low 0.2)")
            ),
        ),
        Method(
            "gspo",
            "grpo",
            "prompts",
            _POLICY_GRADIENT,
            "Zheng et al. 2025",
            # One length-normalised ratio per sequence, clipped to [1 - 3e-4, 1 + 4e-4], and the
            # objective a mean over sequences.
            {
                "loss_type": "grpo",
                "importance_sampling_level": "sequence",
                "clip_range_low": 3e-4,
                "clip_range_high": 4e-4,
            },
            _space(kl_coef=GRPO_KL),
        ),
        Method(
            "cispo",
            "grpo",
            "prompts",
            _POLICY_GRADIENT,
            "MiniMax 2025 (MiniMax-M1)",
            # The importance weight clipped and detached on a token-level REINFORCE loss, no KL term.
            {"policy_loss": "cispo", "loss_type": "dapo", "kl_coef": 0.0, "importance_sampling_level": "token"},
            _space(cispo_max_ratio=SearchRange(2.0, 8.0, "MiniMax 2025 (an upper cap only); ScaleRL's 5")),
        ),
        Method(
            "sapo",
            "grpo",
            "prompts",
            _POLICY_GRADIENT,
            "Gao et al. 2025 (SAPO)",
            # A soft, sigmoid gate of the ratio in place of the hard clip; GRPO's aggregation.
            {"policy_loss": "sapo", "loss_type": "grpo", "importance_sampling_level": "token"},
            _space(kl_coef=GRPO_KL),
        ),
        Method(
            "rft",
            "grpo",
            "prompts",
            _POLICY_GRADIENT,
            "Yuan et al. 2023; Dong et al. 2023 (RAFT)",
            # Sample, keep the samples that reach accept_reward, fine-tune on them: no baseline, no KL.
            {"advantage": "rejection", "loss_type": "dapo", "kl_coef": 0.0, "update_epochs": 1},
            _space(),
        ),
        Method(
            "rloo",
            "rloo",
            "prompts",
            _POLICY_GRADIENT,
            "Ahmadian et al. 2024",
            # REINFORCE with a leave-one-out baseline: one pass over each batch of samples.
            {"update_epochs": 1},
            _space(kl_coef=KL_COEF),
        ),
        Method(
            "reinforce++",
            "reinforce_pp",
            "prompts",
            _POLICY_GRADIENT,
            "Hu 2025",
            search=_space(kl_coef=SearchRange(0.005, 0.1, "Hu 2025 (a KL coefficient of 0.01)")),
        ),
        Method(
            "online-dpo",
            "online_dpo",
            "prompts",
            "alignlab.trainers.online_dpo:train_online_dpo",
            "Guo et al. 2024",
            search=_space(beta=SearchRange(0.05, 0.5, "Guo et al. 2024 (beta 0.1); TRL's default 0.1")),
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
