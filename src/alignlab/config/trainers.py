"""Config sections of the trainers. Batch sizes are global: the same settings mean the same
optimisation on one process or on eight (each process takes ``batch_size / world_size`` rows)."""

from __future__ import annotations

from typing import Literal

from pydantic.dataclasses import dataclass

from alignlab.config.fields import STRICT_SCHEMA, Bool, Float, Int, require, setting

Schedule = Literal["constant", "linear", "cosine"]
KLEstimator = Literal["k1", "k2", "k3"]
Advantage = Literal["group", "leave_one_out", "batch", "rejection"]

KL_ESTIMATOR_HELP = (
    "Per-token estimate of KL(pi || pi_ref) from the policy's samples (Schulman 2020), with log r = log pi_ref - "
    "log pi: k1 = -log r, k2 = (log r)^2 / 2, k3 = (r - 1) - log r. Where the KL enters the objective decides "
    "what its gradient follows. In the reward (a score-function term through the advantages) k1 gives exactly "
    "the gradient of KL(pi || pi_ref); k2 and k3 do not. As a loss term (differentiated through the estimate): "
    "k1's expected gradient is zero (refused), k2 follows the gradient of KL(pi || pi_ref), k3 that of the "
    "reverse KL(pi_ref || pi) (GRPO's choice)."
)


def learning_rate(default: float) -> float:
    """The ``lr`` field with a trainer's own default (each trainer's scale differs)."""
    return setting(default, gt=0.0, help="Peak learning rate (AdamW).")


@dataclass(config=STRICT_SCHEMA)
class TrainConfig:
    """Optimisation settings shared by every trainer."""

    lr: Float = learning_rate(1e-4)
    weight_decay: Float = setting(0.0, ge=0.0, help="AdamW weight decay (not on biases and norms).")
    adam_beta1: Float = setting(0.9, ge=0.0, lt=1.0, help="AdamW beta1.")
    adam_beta2: Float = setting(0.999, ge=0.0, lt=1.0, help="AdamW beta2.")
    lr_schedule: Schedule = setting("linear", help="Decay after warmup.")
    warmup_ratio: Float = setting(0.1, ge=0.0, lt=1.0, help="Fraction of optimizer steps spent warming up linearly.")
    batch_size: Int = setting(
        32, gt=0, help="Examples per optimizer step over all processes and accumulation steps (global)."
    )
    grad_accum_steps: Int = setting(
        1,
        gt=0,
        help="Micro-batches per optimizer step and process. Losses are normalised by the whole step's count "
        "(pairs, sequences or tokens), so accumulation never changes the objective.",
    )
    max_grad_norm: Float = setting(1.0, ge=0.0, help="Clip the global gradient norm to this; 0 disables.")
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = setting(
        "auto",
        help="Compute dtype (accelerate autocast) over float32 master weights; auto = bf16 on a GPU that supports "
        "it, else no (float32).",
    )
    checkpoint_every: Int = setting(
        0,
        ge=0,
        help="Write a resumable checkpoint every N optimizer steps (offline trainers) or iterations (online "
        "trainers); 0 = at the end only.",
    )
    nan_policy: Literal["stop", "skip"] = setting(
        "stop", help="On a NaN/inf loss or gradient: stop (keeping the last good checkpoint) or skip the step."
    )

    def __post_init__(self) -> None:
        require(
            self.batch_size % self.grad_accum_steps == 0,
            "batch_size",
            f"must be divisible by grad_accum_steps ({self.grad_accum_steps})",
        )


@dataclass(config=STRICT_SCHEMA)
class OfflineTrainConfig(TrainConfig):
    """Trainers that pass over a fixed data set (SFT, reward model, DPO family, KTO)."""

    epochs: Int = setting(1, gt=0, help="Passes over the training data.")
    max_steps: Int = setting(
        0,
        ge=0,
        help="Train exactly this many optimizer steps, passing over the data as many times as that takes "
        "(epochs is then not used); 0 = epochs passes.",
    )
    eval_fraction: Float = setting(0.1, ge=0.0, lt=1.0, help="Fraction of the data held out for evaluation metrics.")
    eval_every: Int = setting(0, ge=0, help="Evaluate on the held-out split every N steps; 0 = at the end only.")


@dataclass(config=STRICT_SCHEMA)
class SFTConfig(OfflineTrainConfig):
    lr: Float = learning_rate(3e-4)
    enabled: Bool = setting(
        False,
        help="compare: fine-tune on the chosen responses first and use the SFT model as every method's start "
        "and reference (for data sets whose base model has not seen their kind of response).",
    )


@dataclass(config=STRICT_SCHEMA)
class RewardModelConfig(OfflineTrainConfig):
    lr: Float = learning_rate(3e-4)
    epochs: Int = setting(2, gt=0, help="Passes over the preference pairs.")
    path: str | None = setting(
        None,
        help="Use this trained reward model (a sequence classifier: directory or hub id, with its own tokenizer) "
        "instead of training one; completions are re-tokenised for it.",
    )
    normalize: Bool = setting(True, help="Shift and scale scores to mean 0, std 1 on base-policy samples.")
    normalize_samples: Int = setting(256, gt=0, help="Base-policy completions used to estimate the normalisation.")
    lora: Bool = setting(
        False,
        help="Train a LoRA adapter (model.lora's rank, alpha, dropout and modules) and the score head, in float32, "
        "on the frozen backbone, instead of every weight; the saved reward model has the adapter merged in.",
    )


PairLoss = Literal["sigmoid", "ipo", "hinge", "robust", "simpo", "orpo"]


@dataclass(config=STRICT_SCHEMA)
class DPOFamilyConfig(OfflineTrainConfig):
    """Losses on preference pairs: DPO and its relatives against a reference, SimPO and ORPO without one."""

    loss_type: PairLoss = setting(
        "sigmoid",
        help="sigmoid = DPO; ipo = IPO; hinge = SLiC; robust = rDPO (unbiased under label noise); simpo = SimPO "
        "and orpo = ORPO (no reference model).",
    )
    beta: Float = setting(
        0.1,
        gt=0.0,
        help="Strength of the preference term: beta of DPO/IPO/hinge/rDPO (the implicit KL constraint); beta of "
        "SimPO (scale of the length-normalised margin, ~2); lambda of ORPO (weight of the odds-ratio term, ~0.1).",
    )
    label_smoothing: Float = setting(
        0.0,
        ge=0.0,
        lt=0.5,
        help="Assumed label-flip rate: conservative DPO with sigmoid, rDPO's epsilon with robust.",
    )
    simpo_gamma: Float = setting(0.5, ge=0.0, help="SimPO's target reward margin gamma.")
    average_log_prob: Bool = setting(
        False,
        help="DPO family: average response log-probs per token instead of summing (SimPO and ORPO always average).",
    )
    rpo_alpha: Float = setting(
        0.0,
        ge=0.0,
        help="RPO (Pang et al. 2024, DPO+NLL): add alpha times the chosen response's negative log-likelihood per "
        "token to each pair's loss (the paper's alpha is 1; TRL's 'sft' term); 0 = off. Losses against a "
        "reference only: ORPO has an NLL term of its own.",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        require(
            self.rpo_alpha == 0 or self.loss_type not in ("simpo", "orpo"),
            "rpo_alpha",
            f"adds to the losses against a reference (sigmoid, ipo, hinge, robust), not to {self.loss_type}",
        )


@dataclass(config=STRICT_SCHEMA)
class KTOConfig(OfflineTrainConfig):
    beta: Float = setting(0.1, gt=0.0, help="KTO's beta (risk aversion of the value function).")
    desirable_weight: Float = setting(1.0, gt=0.0, help="lambda_D, weight of desirable (chosen) completions.")
    undesirable_weight: Float = setting(1.0, gt=0.0, help="lambda_U, weight of undesirable (rejected) completions.")


@dataclass(config=STRICT_SCHEMA)
class OnlineTrainConfig(TrainConfig):
    """Trainers that sample from the policy as they go."""

    lr: Float = learning_rate(3e-5)
    lr_schedule: Schedule = setting("constant", help="Decay after warmup.")
    warmup_ratio: Float = setting(0.0, ge=0.0, lt=1.0, help="Fraction of optimizer steps spent warming up linearly.")
    iterations: Int = setting(20, gt=0, help="Rollout-then-update iterations.")
    prompts_per_iteration: Int = setting(64, gt=0, help="Prompts sampled per iteration, over all processes.")
    batch_size: Int = setting(
        64, gt=0, help="Sequences per optimizer step (a minibatch) over all processes and accumulation steps."
    )
    update_epochs: Int = setting(2, gt=0, help="Passes over each iteration's rollouts.")
    reward_source: Literal["reward_model", "gold"] = setting(
        "reward_model", help="Score responses with the learned reward model or with the task's gold reward."
    )
    missing_eos_penalty: Float = setting(
        0.0, help="Added to the score of a response that hits max_new_tokens without EOS (e.g. -1.0); 0 disables."
    )


@dataclass(config=STRICT_SCHEMA)
class ClippedPolicyConfig(OnlineTrainConfig):
    """Online methods with a clipped policy ratio and an explicit KL regularisation (PPO and the
    critic-free policy gradient; online DPO has neither: its reference enters through beta)."""

    clip_range: Float = setting(0.2, gt=0.0, help="Clip of the policy ratio to [1 - c, 1 + c].")
    kl_coef: Float = setting(0.05, ge=0.0, help="Weight of KL(pi || pi_ref) (where it enters: kl_estimator).")


@dataclass(config=STRICT_SCHEMA)
class PPOConfig(ClippedPolicyConfig):
    gamma: Float = setting(1.0, ge=0.0, le=1.0, help="Discount.")
    lam: Float = setting(0.95, ge=0.0, le=1.0, help="GAE lambda.")
    value_clip_range: Float = setting(0.2, ge=0.0, help="Clip of the value update around the rollout value.")
    vf_coef: Float = setting(0.1, ge=0.0, help="Weight of the value loss.")
    entropy_coef: Float = setting(0.0, ge=0.0, help="Weight of the entropy bonus.")
    kl_estimator: KLEstimator = setting(
        "k1", help="The KL penalty subtracted from the reward at every token (RLHF). " + KL_ESTIMATOR_HELP
    )
    whiten_advantages: Bool = setting(True, help="Normalise advantages to mean 0, std 1 over each iteration's batch.")
    adaptive_kl: Bool = setting(False, help="Adapt kl_coef towards target_kl (Ziegler et al. 2019).")
    target_kl: Float = setting(6.0, gt=0.0, help="Target sequence KL for the adaptive controller.")
    kl_horizon: Int = setting(10000, gt=0, help="Horizon of the adaptive KL controller, in sequences.")
    critic: Literal["separate", "shared"] = setting(
        "separate",
        help="separate: a critic model of its own, initialised from the reward model (trunk and score head, the "
        "reward normalisation folded in) so that its first values are the reward model's scores of each prefix, "
        "as in the N+ implementation details; without a reward model (PPO-GT) the base's trunk with a zero head. "
        "shared: a value head from scratch on the policy's trunk (one trunk in memory; the head must learn "
        "before advantages mean much).",
    )


@dataclass(config=STRICT_SCHEMA)
class PolicyGradientConfig(ClippedPolicyConfig):
    """Critic-free policy gradient: GRPO and its variants, RLOO, REINFORCE++."""

    group_size: Int = setting(4, gt=0, help="Completions per prompt (G); the group is the baseline's sample.")
    advantage: Advantage = setting(
        "group",
        help="group = the group's mean (GRPO); leave_one_out = the mean of the other G - 1 (RLOO); batch = no "
        "baseline but normalisation over the whole batch (REINFORCE++); rejection = 1 for the samples whose "
        "reward reaches accept_reward and none for the others (rejection-sampling fine-tuning, RFT/RAFT: "
        "fine-tuning on the accepted samples only).",
    )
    accept_reward: Float = setting(1.0, help="advantage rejection: the reward a sample needs to be trained on.")
    policy_loss: Literal["clip", "cispo", "sapo"] = setting(
        "clip",
        help="clip = PPO's clipped ratio (GRPO and relatives); cispo = the plain policy gradient weighted by the "
        "clipped, detached importance ratio, so no token loses its gradient (MiniMax-M1, 2025); sapo = a soft, "
        "sigmoid gate of the ratio in place of the hard clip (SAPO, 2025).",
    )
    cispo_max_ratio: Float = setting(
        5.0, gt=0.0, help="policy_loss cispo: the cap of the importance weight (ScaleRL recommends 5)."
    )
    sapo_temperature_pos: Float = setting(1.0, gt=0.0, help="policy_loss sapo: the gate's temperature for A > 0.")
    sapo_temperature_neg: Float = setting(1.05, gt=0.0, help="policy_loss sapo: the gate's temperature for A <= 0.")
    scale_rewards: Bool = setting(True, help="group advantages: divide by the group's std (Dr. GRPO: false).")
    kl_in_reward: Bool = setting(
        False,
        help="false: kl_coef * the KL estimate per token is a loss term (GRPO). true: kl_coef * the estimate is "
        "subtracted from the reward before advantages: summed over the sequence (RLOO), or per token with "
        "returns-to-go (advantage: batch, REINFORCE++).",
    )
    kl_estimator: KLEstimator = setting("k3", help=KL_ESTIMATOR_HELP)
    kl_importance_correction: Bool = setting(
        False,
        help="With the KL as a loss term (k3): multiply it by the importance ratio pi / pi_old, TRL's "
        "use_bias_correction_kl: unbiased once the policy has moved off the policy that sampled, and its "
        "gradient is then that of KL(pi || pi_ref), not of the reverse KL.",
    )
    loss_type: Literal["grpo", "dr_grpo", "dapo"] = setting(
        "grpo",
        help="How token losses are averaged: grpo = mean over each sequence's tokens, then over sequences "
        "(Shao et al. 2024); dr_grpo = sum over tokens / (sequences x max_new_tokens) (Liu et al. 2025); dapo = "
        "mean over all tokens of the minibatch (Yu et al. 2025).",
    )
    importance_sampling_level: Literal["token", "sequence"] = setting(
        "token", help="token: a ratio per token; sequence: GSPO's per-sequence ratio exp(mean token log-ratio)."
    )
    clip_range_low: Float | None = setting(None, gt=0.0, help="Lower clip 1 - c_low (default: clip_range).")
    clip_range_high: Float | None = setting(
        None, gt=0.0, help="Upper clip 1 + c_high (default: clip_range; DAPO's clip-higher uses 0.28)."
    )
    dynamic_sampling: Bool = setting(
        False,
        help="DAPO's dynamic sampling (Yu et al. 2025, sec. 3.2): a group whose rewards are all equal has zero "
        "advantage and no signal, so more prompts are sampled until prompts_per_iteration groups with signal "
        "fill the batch (at most max_sampling_rounds rounds; a batch still short trains on the groups it has, "
        "the rest left out).",
    )
    max_sampling_rounds: Int = setting(
        4, gt=0, help="dynamic_sampling: sampling rounds per iteration at most (DAPO's max_num_gen_batches)."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        require(
            not self.dynamic_sampling or self.group_size >= 2,
            "dynamic_sampling",
            "needs groups (group_size >= 2) whose rewards can differ",
        )
        require(
            self.group_size >= 2 or self.advantage == "batch",
            "group_size",
            f"must be >= 2 for a {self.advantage} baseline",
        )
        require(
            not self.kl_importance_correction or (not self.kl_in_reward and self.kl_estimator == "k3"),
            "kl_importance_correction",
            "weighs the k3 loss term: needs kl_in_reward false and kl_estimator k3",
        )
        require(
            self.kl_in_reward or self.kl_estimator != "k1" or self.kl_coef == 0,
            "kl_estimator",
            "k1 as a loss term has an expected gradient of zero (the KL would not be penalised); use k3 "
            "(gradient of KL(pi_ref || pi), GRPO) or k2 (gradient of KL(pi || pi_ref)), or kl_in_reward: true",
        )


@dataclass(config=STRICT_SCHEMA)
class RLOOConfig(PolicyGradientConfig):
    advantage: Advantage = setting(
        "leave_one_out", help="The baseline (RLOO: the mean of the other G - 1 rewards of the prompt)."
    )
    kl_in_reward: Bool = setting(True, help="Subtract kl_coef * the sequence's KL estimate from its reward (RLOO).")
    kl_estimator: KLEstimator = setting("k1", help=KL_ESTIMATOR_HELP)


@dataclass(config=STRICT_SCHEMA)
class ReinforcePPConfig(PolicyGradientConfig):
    group_size: Int = setting(1, gt=0, help="Completions per prompt (REINFORCE++ needs no group).")
    advantage: Advantage = setting(
        "batch", help="The baseline (REINFORCE++: none; advantages normalised over the global batch)."
    )
    kl_in_reward: Bool = setting(True, help="Per-token KL penalty in the reward (REINFORCE++).")
    kl_estimator: KLEstimator = setting("k1", help=KL_ESTIMATOR_HELP)


@dataclass(config=STRICT_SCHEMA)
class OnlineDPOConfig(OnlineTrainConfig):
    update_epochs: Int = setting(1, gt=0, help="Passes over each iteration's pairs.")
    beta: Float = setting(0.1, gt=0.0, help="DPO's beta against the fixed reference.")
    loss_type: Literal["sigmoid", "ipo"] = setting("sigmoid", help="DPO or IPO on the online pairs.")


@dataclass(config=STRICT_SCHEMA)
class BaseBuildConfig(TrainConfig):
    """How ``alignlab base build`` makes an embedded base model (corpus, tokenizer, pretraining)."""

    seed: Int = setting(0, help="Seed of the corpus, tokenizer and weights.")
    num_reviews: Int = setting(24000, ge=0, help="Generated English movie reviews to pretrain on (0 = no English).")
    num_zh_texts: Int = setting(0, ge=0, help="Generated Chinese texts on the seed notebook's topics (0 = none).")
    num_arith_problems: Int = setting(
        0, ge=0, help="Generated arithmetic word problems with worked solutions, some wrong (0 = none)."
    )
    num_eval_docs: Int = setting(1000, gt=0, help="Held-out documents per language for perplexity.")
    vocab_size: Int = setting(
        4096, ge=512, help="Byte-level BPE vocabulary size (at most; a small corpus may stop short)."
    )
    split_digits: Bool = setting(False, help="Every digit a token of its own (for arithmetic).")
    hidden_size: Int = setting(128, gt=0, help="Transformer width.")
    num_layers: Int = setting(4, gt=0, help="Transformer blocks.")
    num_heads: Int = setting(4, gt=0, help="Attention heads.")
    num_kv_heads: Int = setting(2, gt=0, help="Key/value heads (grouped-query attention).")
    intermediate_size: Int = setting(384, gt=0, help="MLP width.")
    block_size: Int = setting(128, gt=0, help="Tokens per packed training sequence.")
    epochs: Int = setting(3, gt=0, help="Passes over the corpus.")
    lr: Float = learning_rate(3e-3)
    lr_schedule: Schedule = setting("cosine", help="Decay after warmup.")
    warmup_ratio: Float = setting(0.05, ge=0.0, lt=1.0, help="Fraction of optimizer steps spent warming up linearly.")
    weight_decay: Float = setting(0.1, ge=0.0, help="AdamW weight decay.")
    adam_beta2: Float = setting(0.95, ge=0.0, lt=1.0, help="AdamW beta2.")
    batch_size: Int = setting(32, gt=0, help="Packed sequences per optimizer step.")
    save_dtype: Literal["float32", "float16"] = setting("float16", help="dtype of the saved weights.")

    def __post_init__(self) -> None:
        super().__post_init__()
        require(
            self.num_reviews + self.num_zh_texts + self.num_arith_problems > 0,
            "num_reviews",
            "the corpus is empty (num_zh_texts and num_arith_problems are 0 too)",
        )
        require(self.hidden_size % self.num_heads == 0, "hidden_size", "must be divisible by num_heads")
        require(self.num_heads % self.num_kv_heads == 0, "num_heads", "must be divisible by num_kv_heads")
