"""The whole experiment: every section, and the methods a comparison runs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic.dataclasses import dataclass

from alignlab.config.fields import STRICT_SCHEMA, Int, Str, require, setting
from alignlab.config.methods import COMPARED, METHODS
from alignlab.config.sections import (
    EvalConfig,
    ModelConfig,
    PreferenceConfig,
    ReportConfig,
    SamplingConfig,
    TaskConfig,
)
from alignlab.config.trainers import (
    DPOFamilyConfig,
    KTOConfig,
    OnlineDPOConfig,
    PolicyGradientConfig,
    PPOConfig,
    ReinforcePPConfig,
    RewardModelConfig,
    RLOOConfig,
    SFTConfig,
)

# Settings outside a method's section that a method's sweep may vary: the preference label noise
# (each value gets its own flipped copy of the pairs, and its own reward model).
EXPERIMENT_CONTROLS = ("preferences.label_noise",)


@dataclass(config=STRICT_SCHEMA)
class BestOfNConfig:
    n: Int = setting(4, ge=1, help="Completions sampled per prompt; the best one is kept.")
    scorer: Literal["reward_model", "gold"] = setting(
        "reward_model", help="Pick by the reward model, or by the gold reward (an oracle, labelled as such)."
    )


@dataclass(config=STRICT_SCHEMA)
class MethodSpec:
    method: Str = setting(help="One of: " + ", ".join(COMPARED))
    sweep: dict[Str, list[Any]] = setting(
        factory=dict,
        help="Trainer setting -> values; one run per value (e.g. {beta: [0.1, 0.5]}); also "
        "preferences.label_noise (the fraction of flipped preference labels).",
    )
    overrides: dict[Str, Any] = setting(factory=dict, help="Trainer settings fixed for this method only.")

    def __post_init__(self) -> None:
        require(self.method in COMPARED, "method", f"unknown method '{self.method}'; known: {', '.join(COMPARED)}")
        require(len(self.sweep) <= 1, "sweep", "sweep over one setting at a time")
        for key, values in self.sweep.items():
            require(len(values) > 0, f"sweep.{key}", "needs at least one value")


@dataclass(config=STRICT_SCHEMA)
class ExperimentConfig:
    name: Str = setting("default", help="Run name; the run directory is <output_dir>/<name>-<timestamp>.")
    output_dir: Str = setting("runs", help="Parent directory of run directories.")
    seeds: list[Int] = setting(factory=lambda: [0], help="One run per seed for every method and setting.")
    threads: Int = setting(
        0,
        ge=0,
        help="torch threads per run; 0 = all cores (serial launcher) or --cpus-per-run (Ray). Float results "
        "depend on the thread count: equal threads give equal records.",
    )
    model: ModelConfig = setting(factory=ModelConfig, help="The base policy (also the reference).")
    task: TaskConfig = setting(factory=TaskConfig, help="Prompts, gold reward and data.")
    preferences: PreferenceConfig = setting(factory=PreferenceConfig, help="Preference pairs from the base policy.")
    generation: SamplingConfig = setting(factory=SamplingConfig, help="Sampling during training.")
    evaluation: EvalConfig = setting(factory=EvalConfig, help="Held-out evaluation.")
    report: ReportConfig = setting(factory=ReportConfig, help="report.html and its statistics.")
    sft: SFTConfig = setting(factory=SFTConfig, help="Supervised fine-tuning (tasks whose base is not tuned).")
    reward_model: RewardModelConfig = setting(factory=RewardModelConfig, help="Bradley-Terry reward model.")
    dpo: DPOFamilyConfig = setting(factory=DPOFamilyConfig, help="DPO family, SimPO and ORPO on preference pairs.")
    kto: KTOConfig = setting(factory=KTOConfig, help="KTO on the pairs split into desirable and undesirable.")
    ppo: PPOConfig = setting(factory=PPOConfig, help="PPO (on the reward model, or on the gold reward).")
    grpo: PolicyGradientConfig = setting(factory=PolicyGradientConfig, help="GRPO and its variants.")
    rloo: RLOOConfig = setting(factory=RLOOConfig, help="RLOO.")
    reinforce_pp: ReinforcePPConfig = setting(factory=ReinforcePPConfig, help="REINFORCE++.")
    online_dpo: OnlineDPOConfig = setting(factory=OnlineDPOConfig, help="Online DPO on the policy's own samples.")
    best_of_n: BestOfNConfig = setting(factory=BestOfNConfig, help="Best-of-N sampling baseline.")
    methods: list[MethodSpec] = setting(factory=list, help="Methods to compare, each with an optional sweep.")

    def __post_init__(self) -> None:
        require(len(self.seeds) > 0, "seeds", "needs at least one seed")
        require(len(set(self.seeds)) == len(self.seeds), "seeds", "must be distinct")
        methods = [spec.method for spec in self.methods]
        require(len(set(methods)) == len(methods), "methods", "list each method once (sweep its settings instead)")
        for i, spec in enumerate(self.methods):
            known = set(getattr(self, METHODS[spec.method].section).__dataclass_fields__) | set(EXPERIMENT_CONTROLS)
            for key in list(spec.sweep) + list(spec.overrides):
                kind = "sweep" if key in spec.sweep else "overrides"
                require(
                    key in known,
                    f"methods[{i}].{kind}.{key}",
                    f"'{key}' is not a setting of {spec.method}; known: {', '.join(sorted(known))}",
                )
