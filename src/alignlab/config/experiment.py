"""The whole experiment: every section, and the methods a comparison runs."""

from __future__ import annotations

from typing import Any, Literal

from pydantic.dataclasses import dataclass

from alignlab.config.fields import STRICT_SCHEMA, Float, Int, Str, require, setting
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

# The settings budget.sequences decides (offline optimizer steps, online iterations).
BUDGET_KEYS = ("max_steps", "iterations")

# Settings outside a method's section that a method's sweep (or overrides) may vary: the
# preference label noise and the number of pairs (each value gets its own copy of the pairs, its
# own reward model and reference pass), and the training budget.
EXPERIMENT_CONTROLS = ("preferences.label_noise", "preferences.max_pairs", "budget.sequences")


@dataclass(config=STRICT_SCHEMA)
class BestOfNConfig:
    n: Int = setting(4, ge=1, help="Completions sampled per prompt; the best one is kept.")
    scorer: Literal["reward_model", "gold"] = setting(
        "reward_model", help="Pick by the reward model, or by the gold reward (an oracle, labelled as such)."
    )
    missing_eos_penalty: Float = setting(
        0.0,
        help="Added to the score of a completion that hits max_new_tokens without EOS before ranking, as the "
        "online methods' missing_eos_penalty does to the score they optimise (set them alike).",
    )


@dataclass(config=STRICT_SCHEMA)
class BudgetConfig:
    """One training budget for every trained method, in one unit."""

    sequences: Int = setting(
        0,
        ge=0,
        help="Trained sequences per run: (prompt, response) sequences through a forward and backward pass with "
        "gradient (a preference pair is two, a KTO example one, an online iteration prompts x group x "
        "update_epochs). It sets each trained method's optimizer steps (offline: max_steps) or iterations "
        "(online), so that every method processes the same amount of training signal whatever its batch "
        "shape; training FLOPs are proportional to it at equal lengths. Sampling is not in it (shown apart, "
        "as time). 0 = each method's own steps or iterations.",
    )


@dataclass(config=STRICT_SCHEMA)
class TuningConfig:
    """An equal tuning budget: the same number of trials for every trained method over its declared
    search space (the registry's), chosen on validation prompts, then retrained on ``seeds``."""

    trials: Int = setting(
        0,
        ge=0,
        help="Settings tried per trained method, the preset's own first; 0 = no tuning (each method at its "
        "configured setting). Needs task.num_validation_prompts.",
    )
    seeds: list[Int] = setting(
        factory=lambda: [1000],
        help="Seeds of the search's runs; disjoint from the reported runs' seeds, which are fresh.",
    )
    sampler: Literal["qmc", "grid"] = setting(
        "qmc",
        help="qmc: Optuna's seeded quasi-Monte Carlo (Sobol) sampler over the log-scaled ranges (every trial "
        "known in advance, so they run in parallel); grid: the corners and centre of the ranges.",
    )
    sampler_seed: Int = setting(0, help="Seed of the sampler.")
    kl_cap: Float | None = setting(
        None,
        gt=0.0,
        help="Choose only among settings whose validation KL (nats per sequence) is at most this; none = any.",
    )


@dataclass(config=STRICT_SCHEMA)
class MethodSpec:
    method: Str = setting(help="One of: " + ", ".join(COMPARED))
    sweep: dict[Str, list[Any]] = setting(
        factory=dict,
        help="Setting -> values, one run per value (e.g. {beta: [0.1, 0.5]}); several settings are varied one "
        "at a time around the configured setting, which then runs too. A trainer setting, or an experiment control: "
        "preferences.label_noise (the fraction of flipped labels), preferences.max_pairs (the data size), "
        "budget.sequences.",
    )
    overrides: dict[Str, Any] = setting(factory=dict, help="Trainer settings fixed for this method only.")

    def __post_init__(self) -> None:
        require(self.method in COMPARED, "method", f"unknown method '{self.method}'; known: {', '.join(COMPARED)}")
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
    budget: BudgetConfig = setting(factory=BudgetConfig, help="One training budget for every trained method.")
    tuning: TuningConfig = setting(factory=TuningConfig, help="Equal tuning budgets, chosen on validation prompts.")
    methods: list[MethodSpec] = setting(factory=list, help="Methods to compare, each with an optional sweep.")

    def __post_init__(self) -> None:
        require(len(self.seeds) > 0, "seeds", "needs at least one seed")
        require(len(set(self.seeds)) == len(self.seeds), "seeds", "must be distinct")
        if self.tuning.trials:
            require(
                self.task.num_validation_prompts > 0,
                "tuning.trials",
                "a tuning search chooses on validation prompts: set task.num_validation_prompts",
            )
            require(
                not set(self.tuning.seeds) & set(self.seeds),
                "tuning.seeds",
                "must differ from seeds: the reported runs are retrained on fresh seeds",
            )
            for i, spec in enumerate(self.methods):
                tuned = [key for key in spec.sweep if key in METHODS[spec.method].search]
                require(
                    not tuned,
                    f"methods[{i}].sweep",
                    f"{spec.method}'s {', '.join(tuned)} is tuned (tuning.trials > 0): the search chooses it",
                )
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
                require(
                    not (self.budget.sequences and key in BUDGET_KEYS),
                    f"methods[{i}].{kind}.{key}",
                    f"budget.sequences sets every method's {' and '.join(BUDGET_KEYS)}; leave {key} to it",
                )
        self._check_findings(methods)

    def _check_findings(self, methods: list[str]) -> None:
        """Each finding's sides name compared methods and points of their sweeps, so that a typo
        is an error here, not a finding silently inconclusive for want of runs."""
        sweeps = {spec.method: spec.sweep for spec in self.methods}
        for i, finding in enumerate(self.report.findings):
            where = f"report.findings[{i}]"
            for label, side in (("a", finding.a), ("b", finding.b)):
                if side is None:
                    continue
                require(
                    side.method in methods,
                    f"{where}.{label}.method",
                    f"'{side.method}' is not among the compared methods ({', '.join(methods)})",
                )
                for key, value in side.where.items():
                    values = sweeps[side.method].get(key, [])
                    require(
                        value in values,
                        f"{where}.{label}.where.{key}",
                        f"{side.method} does not sweep {key} over {value!r} (its sweep: {values})",
                    )
                if finding.kind == "trend":
                    require(
                        finding.sweep in sweeps[side.method],
                        f"{where}.sweep",
                        f"{side.method} does not sweep {finding.sweep}",
                    )
                elif len(sweeps[side.method]) == 1 and METHODS[side.method].trainer:
                    # One swept setting: the method runs only at the sweep's values, none unswept
                    # (best-of-n's side is its whole sweep of n: its KL-reward path).
                    (key,) = sweeps[side.method]
                    require(
                        key in side.where,
                        f"{where}.{label}.where",
                        f"{side.method} runs only at the values of its sweep of {key}: name one",
                    )
