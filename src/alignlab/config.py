"""Dataclass configs with YAML in and out.

One schema, ``ExperimentConfig``, describes a whole run: model, task, preference data, sampling,
every trainer and the comparison's methods. ``alignlab compare`` uses all of it, ``alignlab train dpo``
only the parts it needs. Each field's ``help`` metadata documents it once, for the YAML presets
and the CLI alike.

Loading is strict: an unknown key, a value of the wrong type or one out of range is a
``ConfigError`` whose message names the file and the dotted key.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, Union

import yaml

from alignlab.errors import ConfigError

T = TypeVar("T")


def _field(default: Any = dataclasses.MISSING, *, help: str, factory: Any = dataclasses.MISSING) -> Any:
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata={"help": help})
    return field(default=default, metadata={"help": help})


class _FieldError(ValueError):
    """Raised by a config's validation; the loader turns it into a ConfigError naming the key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def _require(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise _FieldError(key, message)


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


@dataclass
class LoraConfig:
    enabled: bool = _field(False, help="Train a LoRA adapter instead of the full policy (peft).")
    r: int = _field(16, help="LoRA rank.")
    alpha: int = _field(32, help="LoRA scaling numerator (scale = alpha / r).")
    dropout: float = _field(0.0, help="Dropout on the LoRA branch.")
    target_modules: list[str] = _field(
        factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
        help="Module names that receive adapters.",
    )

    def __post_init__(self) -> None:
        _require(self.r > 0, "r", "must be > 0")
        _require(0.0 <= self.dropout < 1.0, "dropout", "must be in [0, 1)")


@dataclass
class ModelConfig:
    name_or_path: str = _field(
        "embedded", help="Hub id, local directory, or 'embedded' / 'embedded-zh' for alignlab's own tiny base models."
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = _field(
        "auto", help="Weights dtype; auto = float32 on CPU, bfloat16 on a GPU that supports it."
    )
    trust_remote_code: bool = _field(False, help="Allow model code from the hub. Off unless you trust it.")
    gradient_checkpointing: bool = _field(False, help="Recompute activations in backward to save memory.")
    lora: LoraConfig = _field(factory=LoraConfig, help="LoRA adapter settings.")


@dataclass
class GenerationConfig:
    max_new_tokens: int = _field(32, help="Longest response, in tokens.")
    temperature: float = _field(1.0, help="Sampling temperature (also applied to training log-probs).")
    top_k: int = _field(0, help="Keep only the k most likely tokens; 0 disables.")
    top_p: float = _field(1.0, help="Nucleus sampling mass; 1.0 disables.")
    batch_size: int = _field(128, help="Prompts per generate call.")

    def __post_init__(self) -> None:
        _require(self.max_new_tokens > 0, "max_new_tokens", "must be > 0")
        _require(self.temperature > 0, "temperature", "must be > 0")
        _require(self.top_k >= 0, "top_k", "must be >= 0")
        _require(0.0 < self.top_p <= 1.0, "top_p", "must be in (0, 1]")
        _require(self.batch_size > 0, "batch_size", "must be > 0")


@dataclass
class TaskConfig:
    name: str = _field("sentiment", help="Task: sentiment, seed, hh-rlhf, ultrafeedback, imdb, or jsonl.")
    reward: str = _field(
        "default", help="Gold reward: 'default' (the task's own), 'vader', 'seed_heuristic', or module:function."
    )
    dataset: str | None = _field(
        None, help="Data of the task: a hub id, or a local JSONL/parquet file or directory in the same schema."
    )
    split: str = _field("train", help="Split of the data set to read.")
    max_examples: int = _field(0, help="Read at most this many examples of the data set; 0 = all.")
    num_train_prompts: int = _field(512, help="Prompts used for training (preference data and online RL).")
    num_eval_prompts: int = _field(128, help="Held-out prompts used for evaluation.")
    max_prompt_tokens: int = _field(64, help="Longer prompts are truncated or skipped (see overlong).")
    max_response_tokens: int = _field(64, help="Longer responses are truncated or skipped (see overlong).")
    overlong: Literal["truncate", "skip"] = _field("truncate", help="What to do with over-long examples.")
    split_seed: int = _field(1234, help="Seed of the train/eval prompt split (independent of run seeds).")

    def __post_init__(self) -> None:
        _require(self.num_train_prompts > 0, "num_train_prompts", "must be > 0")
        _require(self.num_eval_prompts > 0, "num_eval_prompts", "must be > 0")
        _require(self.max_examples >= 0, "max_examples", "must be >= 0")
        _require(self.max_prompt_tokens > 0, "max_prompt_tokens", "must be > 0")
        _require(self.max_response_tokens > 0, "max_response_tokens", "must be > 0")


@dataclass
class PreferenceConfig:
    path: str | None = _field(None, help="Use this preference JSONL instead of sampling one.")
    completions_per_prompt: int = _field(4, help="Completions sampled from the base policy per prompt.")
    pairs_per_prompt: int = _field(2, help="Preference pairs drawn from each prompt's completions.")
    labeling: Literal["bradley_terry", "deterministic"] = _field(
        "bradley_terry", help="Label pairs by sampling Bradley-Terry on gold rewards, or by the larger reward."
    )
    temperature: float = _field(0.1, help="Bradley-Terry temperature: P(a > b) = sigmoid((r_a - r_b) / T).")
    min_reward_gap: float = _field(0.0, help="Skip pairs whose gold rewards differ by less than this.")

    def __post_init__(self) -> None:
        _require(self.completions_per_prompt >= 2, "completions_per_prompt", "must be >= 2")
        _require(self.pairs_per_prompt >= 1, "pairs_per_prompt", "must be >= 1")
        _require(self.temperature > 0, "temperature", "must be > 0")
        _require(self.min_reward_gap >= 0, "min_reward_gap", "must be >= 0")


# --------------------------------------------------------------------------------------------
# Trainers
# --------------------------------------------------------------------------------------------


@dataclass
class TrainConfig:
    """Optimisation settings shared by every trainer."""

    lr: float = _field(1e-4, help="Peak learning rate (AdamW).")
    weight_decay: float = _field(0.0, help="AdamW weight decay.")
    adam_beta1: float = _field(0.9, help="AdamW beta1.")
    adam_beta2: float = _field(0.999, help="AdamW beta2.")
    lr_schedule: Literal["constant", "linear", "cosine"] = _field("linear", help="Decay after warmup.")
    warmup_ratio: float = _field(0.1, help="Fraction of optimizer steps spent warming up linearly.")
    batch_size: int = _field(32, help="Examples per optimizer step, summed over accumulation steps.")
    grad_accum_steps: int = _field(1, help="Micro-batches per optimizer step.")
    max_grad_norm: float = _field(1.0, help="Clip the global gradient norm to this; 0 disables.")
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = _field(
        "auto", help="accelerate mixed precision; auto = no on CPU, bf16 on a GPU that supports it."
    )
    checkpoint_every: int = _field(0, help="Write a resumable checkpoint every N optimizer steps; 0 = at the end only.")
    nan_policy: Literal["stop", "skip"] = _field(
        "stop", help="On a NaN/inf loss or gradient: stop (keeping the last good checkpoint) or skip the step."
    )

    def __post_init__(self) -> None:
        _require(self.lr > 0, "lr", "must be > 0")
        _require(self.weight_decay >= 0, "weight_decay", "must be >= 0")
        _require(0.0 <= self.warmup_ratio < 1.0, "warmup_ratio", "must be in [0, 1)")
        _require(self.batch_size > 0, "batch_size", "must be > 0")
        _require(self.grad_accum_steps > 0, "grad_accum_steps", "must be > 0")
        _require(
            self.batch_size % self.grad_accum_steps == 0,
            "batch_size",
            f"must be divisible by grad_accum_steps ({self.grad_accum_steps})",
        )
        _require(self.max_grad_norm >= 0, "max_grad_norm", "must be >= 0")
        _require(self.checkpoint_every >= 0, "checkpoint_every", "must be >= 0")


@dataclass
class OfflineTrainConfig(TrainConfig):
    """Trainers that pass over a fixed data set (SFT, reward model, DPO)."""

    epochs: int = _field(1, help="Passes over the training data.")
    max_steps: int = _field(0, help="Stop after this many optimizer steps; 0 = no cap.")
    eval_fraction: float = _field(0.1, help="Fraction of the data held out for evaluation metrics.")
    eval_every: int = _field(0, help="Evaluate on the held-out split every N steps; 0 = at the end only.")

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.epochs > 0, "epochs", "must be > 0")
        _require(self.max_steps >= 0, "max_steps", "must be >= 0")
        _require(0.0 <= self.eval_fraction < 1.0, "eval_fraction", "must be in [0, 1)")
        _require(self.eval_every >= 0, "eval_every", "must be >= 0")


@dataclass
class SFTConfig(OfflineTrainConfig):
    lr: float = _field(3e-4, help="Peak learning rate (AdamW).")


@dataclass
class RewardModelConfig(OfflineTrainConfig):
    lr: float = _field(3e-4, help="Peak learning rate (AdamW).")
    epochs: int = _field(2, help="Passes over the preference pairs.")
    normalize: bool = _field(True, help="Shift and scale scores to mean 0, std 1 on base-policy samples.")
    normalize_samples: int = _field(256, help="Base-policy completions used to estimate the normalisation.")


@dataclass
class DPOConfig(OfflineTrainConfig):
    lr: float = _field(1e-4, help="Peak learning rate (AdamW).")
    loss_type: Literal["sigmoid", "ipo", "hinge", "robust"] = _field(
        "sigmoid", help="sigmoid = DPO; ipo = IPO; hinge = SLiC; robust = rDPO (unbiased under label noise)."
    )
    beta: float = _field(0.1, help="Strength of the implicit KL constraint to the reference.")
    label_smoothing: float = _field(
        0.0, help="Assumed label-flip rate: conservative DPO with sigmoid, rDPO's epsilon with robust."
    )
    average_log_prob: bool = _field(False, help="Average response log-probs per token instead of summing.")

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.beta > 0, "beta", "must be > 0")
        _require(0.0 <= self.label_smoothing < 0.5, "label_smoothing", "must be in [0, 0.5)")


@dataclass
class OnlineTrainConfig(TrainConfig):
    """Trainers that sample from the policy as they go (PPO, GRPO, RLOO)."""

    iterations: int = _field(20, help="Rollout-then-update iterations.")
    prompts_per_iteration: int = _field(64, help="Prompts sampled per iteration.")
    batch_size: int = _field(64, help="Sequences per optimizer step (a minibatch), summed over accumulation.")
    update_epochs: int = _field(2, help="Passes over each iteration's rollouts.")
    clip_range: float = _field(0.2, help="Clip of the policy ratio to [1 - c, 1 + c].")
    kl_coef: float = _field(0.05, help="Weight of KL(pi || pi_ref).")
    reward_source: Literal["reward_model", "gold"] = _field(
        "reward_model", help="Score responses with the learned reward model or with the task's gold reward."
    )
    missing_eos_penalty: float = _field(
        0.0, help="Added to the score of a response that hits max_new_tokens without EOS (e.g. -1.0); 0 disables."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.iterations > 0, "iterations", "must be > 0")
        _require(self.prompts_per_iteration > 0, "prompts_per_iteration", "must be > 0")
        _require(self.update_epochs > 0, "update_epochs", "must be > 0")
        _require(self.clip_range > 0, "clip_range", "must be > 0")
        _require(self.kl_coef >= 0, "kl_coef", "must be >= 0")


@dataclass
class PPOConfig(OnlineTrainConfig):
    lr: float = _field(3e-5, help="Peak learning rate (AdamW).")
    lr_schedule: Literal["constant", "linear", "cosine"] = _field("constant", help="Decay after warmup.")
    warmup_ratio: float = _field(0.0, help="Fraction of optimizer steps spent warming up linearly.")
    gamma: float = _field(1.0, help="Discount.")
    lam: float = _field(0.95, help="GAE lambda.")
    value_clip_range: float = _field(0.2, help="Clip of the value update around the rollout value.")
    vf_coef: float = _field(0.1, help="Weight of the value loss.")
    entropy_coef: float = _field(0.0, help="Weight of the entropy bonus.")
    whiten_advantages: bool = _field(True, help="Normalise advantages to mean 0, std 1 over each rollout batch.")
    adaptive_kl: bool = _field(False, help="Adapt kl_coef towards target_kl (Ziegler et al. 2019).")
    target_kl: float = _field(6.0, help="Target sequence KL for the adaptive controller.")
    kl_horizon: int = _field(10000, help="Horizon of the adaptive KL controller, in sequences.")
    critic: Literal["shared", "separate"] = _field(
        "shared", help="Value head on the policy's trunk, or a separate critic model."
    )
    value_init: Literal["reward_model", "scratch"] = _field(
        "reward_model", help="Initialise the value head (or critic) from the reward model, or from scratch."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(0.0 <= self.gamma <= 1.0, "gamma", "must be in [0, 1]")
        _require(0.0 <= self.lam <= 1.0, "lam", "must be in [0, 1]")
        _require(self.value_clip_range >= 0, "value_clip_range", "must be >= 0")
        _require(self.target_kl > 0, "target_kl", "must be > 0")


@dataclass
class GRPOConfig(OnlineTrainConfig):
    lr: float = _field(3e-5, help="Peak learning rate (AdamW).")
    lr_schedule: Literal["constant", "linear", "cosine"] = _field("constant", help="Decay after warmup.")
    warmup_ratio: float = _field(0.0, help="Fraction of optimizer steps spent warming up linearly.")
    group_size: int = _field(4, help="Completions per prompt (G).")
    scale_rewards: bool = _field(True, help="Divide group-centred rewards by the group's std.")
    kl_in_reward: bool = _field(False, help="Put the KL penalty in the reward instead of the loss (k3 term).")

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.group_size >= 2, "group_size", "must be >= 2")


@dataclass
class RLOOConfig(OnlineTrainConfig):
    lr: float = _field(3e-5, help="Peak learning rate (AdamW).")
    lr_schedule: Literal["constant", "linear", "cosine"] = _field("constant", help="Decay after warmup.")
    warmup_ratio: float = _field(0.0, help="Fraction of optimizer steps spent warming up linearly.")
    group_size: int = _field(4, help="Completions per prompt (k).")
    objective: Literal["reinforce", "clip"] = _field("clip", help="Plain REINFORCE or the clipped ratio.")

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.group_size >= 2, "group_size", "must be >= 2")


@dataclass
class BaseBuildConfig(TrainConfig):
    """How ``alignlab base build`` makes the embedded base model (corpus, tokenizer, pretraining)."""

    seed: int = _field(0, help="Seed of the corpus, tokenizer and weights.")
    num_reviews: int = _field(24000, help="Generated English movie reviews to pretrain on (0 = no English).")
    num_zh_texts: int = _field(0, help="Generated Chinese texts on the seed notebook's topics (0 = English only).")
    num_eval_docs: int = _field(1000, help="Held-out documents per language for perplexity.")
    vocab_size: int = _field(4096, help="Byte-level BPE vocabulary size.")
    hidden_size: int = _field(128, help="Transformer width.")
    num_layers: int = _field(4, help="Transformer blocks.")
    num_heads: int = _field(4, help="Attention heads.")
    num_kv_heads: int = _field(2, help="Key/value heads (grouped-query attention).")
    intermediate_size: int = _field(384, help="MLP width.")
    block_size: int = _field(128, help="Tokens per packed training sequence.")
    epochs: int = _field(3, help="Passes over the corpus.")
    lr: float = _field(3e-3, help="Peak learning rate (AdamW).")
    lr_schedule: Literal["constant", "linear", "cosine"] = _field("cosine", help="Decay after warmup.")
    warmup_ratio: float = _field(0.05, help="Fraction of optimizer steps spent warming up linearly.")
    weight_decay: float = _field(0.1, help="AdamW weight decay.")
    adam_beta2: float = _field(0.95, help="AdamW beta2.")
    batch_size: int = _field(32, help="Packed sequences per optimizer step.")
    save_dtype: Literal["float32", "float16"] = _field("float16", help="dtype of the saved weights.")

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.num_reviews >= 0, "num_reviews", "must be >= 0")
        _require(self.num_zh_texts >= 0, "num_zh_texts", "must be >= 0")
        _require(self.num_reviews + self.num_zh_texts > 0, "num_reviews", "the corpus is empty (num_zh_texts is 0 too)")
        _require(self.vocab_size >= 512, "vocab_size", "must be >= 512")
        _require(self.hidden_size % self.num_heads == 0, "hidden_size", "must be divisible by num_heads")
        _require(self.num_heads % self.num_kv_heads == 0, "num_heads", "must be divisible by num_kv_heads")
        _require(self.epochs > 0, "epochs", "must be > 0")


# --------------------------------------------------------------------------------------------
# The experiment
# --------------------------------------------------------------------------------------------

# Method name -> (trainer section of ExperimentConfig, its settings for this method). A method's
# `overrides` and swept values take precedence (e.g. cdpo with `sweep: {label_smoothing: [...]}`).
METHODS: dict[str, tuple[str | None, dict[str, Any]]] = {
    "dpo": ("dpo", {"loss_type": "sigmoid", "label_smoothing": 0.0}),
    "cdpo": ("dpo", {"loss_type": "sigmoid", "label_smoothing": 0.1}),
    "ipo": ("dpo", {"loss_type": "ipo"}),
    "hinge": ("dpo", {"loss_type": "hinge"}),
    "rdpo": ("dpo", {"loss_type": "robust", "label_smoothing": 0.1}),
    "ppo": ("ppo", {"reward_source": "reward_model"}),
    "ppo-gt": ("ppo", {"reward_source": "gold"}),
    "grpo": ("grpo", {}),
    "rloo": ("rloo", {}),
    "best-of-n": (None, {}),
}


@dataclass
class BestOfNConfig:
    n: int = _field(4, help="Completions sampled per prompt; the best one is kept.")
    scorer: Literal["reward_model", "gold"] = _field(
        "reward_model", help="Pick by the reward model, or by the gold reward (an oracle, labelled as such)."
    )

    def __post_init__(self) -> None:
        _require(self.n >= 1, "n", "must be >= 1")


@dataclass
class MethodSpec:
    method: str = _field(help="One of: " + ", ".join(METHODS))
    sweep: dict[str, list[Any]] = _field(
        factory=dict, help="Trainer setting -> values; one run per value (e.g. {beta: [0.1, 0.5]})."
    )
    overrides: dict[str, Any] = _field(factory=dict, help="Trainer settings fixed for this method only.")

    def __post_init__(self) -> None:
        _require(self.method in METHODS, "method", f"unknown method '{self.method}'; known: {', '.join(METHODS)}")
        _require(len(self.sweep) <= 1, "sweep", "sweep over one setting at a time")
        for key, values in self.sweep.items():
            _require(len(values) > 0, f"sweep.{key}", "needs at least one value")


@dataclass
class EvalConfig:
    samples_per_prompt: int = _field(2, help="Completions sampled per held-out prompt.")
    generation: GenerationConfig = _field(factory=GenerationConfig, help="Fixed sampling settings of evaluation.")
    relevance_model: str = _field(
        "auto",
        help="Sentence embedder of the relevance metric: auto (all-MiniLM-L6-v2 for English, multilingual USE "
        "otherwise), sentence-transformers/all-MiniLM-L6-v2, use-multilingual-v3, or any sentence-transformers model.",
    )
    report_examples: int = _field(6, help="Prompts shown side by side in the report.")

    def __post_init__(self) -> None:
        _require(self.samples_per_prompt >= 1, "samples_per_prompt", "must be >= 1")


@dataclass
class ExperimentConfig:
    name: str = _field("default", help="Run name; the run directory is <output_dir>/<name>-<timestamp>.")
    output_dir: str = _field("runs", help="Parent directory of run directories.")
    seeds: list[int] = _field(factory=lambda: [0], help="One run per seed for every method and setting.")
    model: ModelConfig = _field(factory=ModelConfig, help="The base policy (also the reference).")
    task: TaskConfig = _field(factory=TaskConfig, help="Prompts, gold reward and data.")
    preferences: PreferenceConfig = _field(factory=PreferenceConfig, help="Preference pairs from the base policy.")
    generation: GenerationConfig = _field(factory=GenerationConfig, help="Sampling during training.")
    evaluation: EvalConfig = _field(factory=EvalConfig, help="Held-out evaluation.")
    sft: SFTConfig = _field(factory=SFTConfig, help="Supervised fine-tuning (tasks whose base is not tuned).")
    reward_model: RewardModelConfig = _field(factory=RewardModelConfig, help="Bradley-Terry reward model.")
    dpo: DPOConfig = _field(factory=DPOConfig, help="DPO family.")
    ppo: PPOConfig = _field(factory=PPOConfig, help="PPO (on the reward model, or on the gold reward).")
    grpo: GRPOConfig = _field(factory=GRPOConfig, help="GRPO.")
    rloo: RLOOConfig = _field(factory=RLOOConfig, help="RLOO.")
    best_of_n: BestOfNConfig = _field(factory=BestOfNConfig, help="Best-of-N sampling baseline.")
    methods: list[MethodSpec] = _field(factory=list, help="Methods to compare, each with an optional sweep.")

    def __post_init__(self) -> None:
        _require(len(self.seeds) > 0, "seeds", "needs at least one seed")
        _require(len(set(self.seeds)) == len(self.seeds), "seeds", "must be distinct")
        methods = [spec.method for spec in self.methods]
        _require(len(set(methods)) == len(methods), "methods", "list each method once (sweep its settings instead)")
        for i, spec in enumerate(self.methods):
            section_name, _ = METHODS[spec.method]
            section = self.best_of_n if section_name is None else getattr(self, section_name)
            known = {f.name for f in dataclasses.fields(section)}
            for key in list(spec.sweep) + list(spec.overrides):
                _require(
                    key in known,
                    f"methods[{i}].{'sweep' if key in spec.sweep else 'overrides'}.{key}",
                    f"'{key}' is not a setting of {spec.method}; known: {', '.join(sorted(known))}",
                )


# --------------------------------------------------------------------------------------------
# Loading, overriding, saving
# --------------------------------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(tp: Any, value: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it converted (nested dataclasses)."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, key)
            except _FieldError as err:
                errors.append(str(err))
        raise _FieldError(key, "; ".join(errors))
    if origin is Literal:
        if value not in args:
            raise _FieldError(key, f"must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if dataclasses.is_dataclass(tp):
        return _from_mapping(tp, value, key + ".")
    if origin is list:
        if not isinstance(value, list):
            raise _FieldError(key, f"must be a list, got {type(value).__name__} {value!r}")
        return [_coerce(args[0] if args else Any, v, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, Mapping):
            raise _FieldError(key, f"must be a mapping, got {type(value).__name__} {value!r}")
        return {str(k): _coerce(args[1] if args else Any, v, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise _FieldError(key, f"must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _FieldError(key, f"must be an integer, got {value!r}")
        return value
    if tp is float:
        # YAML 1.1 reads "1e-5" (no dot) as a string; accept it as the number it obviously is.
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _FieldError(key, f"must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _FieldError(key, f"must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported config annotation {_type_name(tp)} at {key}")


def _from_mapping(cls: type[T], data: Any, prefix: str) -> T:
    where = prefix.rstrip(".") or "the top level"
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise _FieldError(where, f"must be a mapping of settings, got {type(data).__name__} {data!r}")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    for key in data:
        if key not in known:
            raise _FieldError(f"{prefix}{key}", f"unknown key; {where} takes: {', '.join(known)}")
    kwargs = {}
    for name, f in known.items():
        if name in data:
            kwargs[name] = _coerce(hints[name], data[name], prefix + name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise _FieldError(prefix + name, "is required")
    try:
        return cls(**kwargs)
    except _FieldError as err:
        raise _FieldError(prefix + err.key, str(err)) from None


def from_dict(cls: type[T], data: Any, source: str = "<config>") -> T:
    """Build config ``cls`` from plain data; errors name ``source`` and the dotted key."""
    try:
        return _from_mapping(cls, data, "")
    except _FieldError as err:
        raise ConfigError(f"{source}: key '{err.key}': {err}") from None


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """Turn ``["dpo.lr=1e-5", "seeds=[0,1]"]`` into a nested mapping; values are read as YAML."""
    nested: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}': expected KEY=VALUE, e.g. dpo.beta=0.1")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(f"override '{item}': empty key segment")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise ConfigError(f"override '{item}': value is not valid YAML ({err.problem})") from None
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}': '{part}' is set twice")
        node[parts[-1]] = value
    return nested


def _merge(base: dict[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} not valid YAML ({getattr(err, 'problem', err)})") from None


def load_config(
    path: str | Path | None = None, overrides: list[str] | None = None, cls: type[T] = ExperimentConfig
) -> T:
    """Read ``path`` (YAML) if given, apply ``--set`` style overrides, validate, return the config."""
    data: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        loaded = read_yaml(path)
        if loaded is not None and not isinstance(loaded, Mapping):
            raise ConfigError(f"{path}: the top level must be a mapping of settings")
        data = dict(loaded or {})
        source = str(path)
    if overrides:
        data = _merge(data, parse_overrides(overrides))
        source = f"{source} with --set {' '.join(overrides)}"
    return from_dict(cls, data, source)


def save_config(config: Any, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(to_dict(config), sort_keys=False, allow_unicode=True), encoding="utf-8")


def with_settings(config: T, settings: Mapping[str, Any], source: str) -> T:
    """A copy of dataclass ``config`` with ``settings`` applied and validated (for sweeps)."""
    return from_dict(type(config), _merge(to_dict(config), settings), source)
