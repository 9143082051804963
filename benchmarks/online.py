"""Online RL against TRL: alignlab's GRPO and RLOO against TRL's GRPOTrainer and RLOOTrainer.

Both sides do the same work, on the CPU in float32: the embedded base model (or ``--model``, e.g.
``smollm2-135m-instruct``, whose prompts are then rendered in its chat template as alignlab
renders them, and given to TRL as those strings), the sentiment task's training prompts and its
gold reward (VADER), ``--group`` (4) completions of each of
``--prompts-per-step`` (16) prompts per step, at most ``--new-tokens`` (40) new tokens at
temperature 1 without top-k/top-p, one optimizer step per generation batch (one pass, one
minibatch of all 64 completions), the same learning rate (constant, no warmup), AdamW, gradient
clipping at 1.0, the same KL coefficient, clip range 0.2 and seed.

- GRPO: alignlab ``grpo`` (group advantage scaled by the group std, ``kl_in_reward: false`` so
  ``kl_coef * k3`` per token is a loss term, ``loss_type: dapo``) against ``GRPOTrainer`` with
  ``beta`` = kl_coef, ``loss_type="dapo"``, ``scale_rewards="group"``.
- RLOO: alignlab ``rloo`` (leave-one-out baseline, ``kl_in_reward: true``: kl_coef x the
  sequence's summed k1 log-ratio subtracted from the reward) against ``RLOOTrainer`` at its
  defaults for that objective (``beta`` = kl_coef in the reward as the summed k1 log-ratio,
  leave-one-out baseline, ``normalize_advantages=False``). TRL's RLOO loss is the clipped
  *sequence* ratio times the advantage, averaged over sequences; alignlab's is the token ratio,
  averaged over the minibatch's tokens (``loss_type: dapo``). With one optimizer step per
  generation batch the ratio is 1 at the step, so both gradients are sum_i A_i grad log pi(y_i)
  up to a positive factor per step (TRL's is larger by the mean completion length), which AdamW
  removes except through its epsilon and the gradient clipping.

TRL runs at its best CPU settings: ``use_cpu=True, bf16=False, gradient_checkpointing=False``,
no vLLM, dropout disabled like alignlab's. Timing is end to end per step (sampling, scoring with
reference and old log-probs where the method needs them, the update): alignlab's
``perf/iteration_s``, TRL's wall time from ``on_step_begin`` to ``on_step_end``. The first
``--warmup`` (2) steps of each run are warm-ups and are not counted. Completion tokens are the sampled response tokens (EOS
included) of the timed steps. The gold reward of the last steps of both sides is a sanity check
that they learn alike.

    python benchmarks/online.py [--json out.json] [--steps 8]
"""

from __future__ import annotations

import os

# The comparison is on the CPU for both sides (TRL: use_cpu=True).
os.environ["CUDA_VISIBLE_DEVICES"] = ""

import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

from _common import parser, report  # noqa: E402

from alignlab.base import embedded_model_dir  # noqa: E402
from alignlab.config import load_config, method_config  # noqa: E402
from alignlab.layout import TrainingDir  # noqa: E402
from alignlab.models import load_tokenizer, resolve_model_path  # noqa: E402
from alignlab.tasks import load_task  # noqa: E402
from alignlab.trainers import TrainInputs, train  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def ours(
    method: str, base, settings: dict, prompts: list[str], reward, out: Path, seed: int, last: int, warmup: int
) -> dict:
    """alignlab's run: figures of its timed steps (all but the first)."""
    config = method_config(base, method, settings)
    train(TrainInputs(method, config, seed=seed, prompts=prompts, gold_reward=reward), TrainingDir(out))
    rows = json.loads((out / "history.json").read_text())["train"]
    timed = rows[warmup:]
    sequences = settings["group_size"] * settings["prompts_per_iteration"]
    seconds = sum(row["perf/iteration_s"] for row in timed)
    tokens = sum(row["rollout/response_length"] * sequences for row in timed)
    phases = {
        key.split("/", 1)[1]: (rows[-1][key] - rows[0][key]) / seconds for key in rows[-1] if key.startswith("time/")
    }
    return {
        "seconds": seconds,
        "step_s": [round(row["perf/iteration_s"], 3) for row in rows],
        "steps": len(timed),
        "tokens": tokens,
        "gold_last": statistics.fmean(row["reward/gold"] for row in rows[-last:]),
        "gold_first": rows[0]["reward/gold"],
        "phases": phases,
    }


def trl(method: str, args, prompts: list[str], reward, out: Path, steps: int) -> dict:
    """TRL's run on the same work: figures of its timed steps (all but the first)."""
    from datasets import Dataset
    from transformers import TrainerCallback
    from transformers.trainer_callback import PrinterCallback
    from trl import GRPOConfig, GRPOTrainer, RLOOConfig, RLOOTrainer

    class StepTimer(TrainerCallback):
        def __init__(self) -> None:
            self.durations: list[float] = []

        def on_step_begin(self, *a, **k) -> None:
            self.started = time.perf_counter()

        def on_step_end(self, *a, **k) -> None:
            self.durations.append(time.perf_counter() - self.started)

    golds: list[float] = []
    tokens: list[int] = []

    def gold(prompts, completions, completion_ids=None, **kwargs) -> list[float]:
        """The task's gold reward in TRL's reward-function signature; records each generation
        batch's mean reward and completion tokens (one batch per optimizer step here)."""
        values = reward(list(prompts), list(completions))
        golds.append(statistics.fmean(values))
        tokens.append(sum(len(ids) for ids in completion_ids))
        return values

    rows = args.prompts_per_step * args.group
    common = dict(
        output_dir=str(out),
        # One step = one generation batch of prompts_per_step x group completions, one minibatch.
        per_device_train_batch_size=rows,
        gradient_accumulation_steps=1,
        steps_per_generation=1,
        num_iterations=1,
        num_generations=args.group,
        max_completion_length=args.new_tokens,
        max_steps=steps,
        temperature=1.0,
        top_p=1.0,
        top_k=0,
        beta=args.kl_coef,
        epsilon=0.2,
        learning_rate=args.lr,
        lr_scheduler_type="constant",
        warmup_steps=0,
        weight_decay=0.0,
        max_grad_norm=1.0,
        disable_dropout=True,
        model_init_kwargs={"dtype": "float32"},
        use_vllm=False,
        # TRL's best CPU settings.
        use_cpu=True,
        bf16=False,
        fp16=False,
        gradient_checkpointing=False,
        activation_checkpointing=False,
        dataloader_num_workers=0,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        disable_tqdm=True,
        log_completions=False,
        seed=args.seed,
    )
    if method == "grpo":
        config = GRPOConfig(**common, loss_type="dapo", scale_rewards="group", importance_sampling_level="token")
        trainer_class = GRPOTrainer
    else:
        config = RLOOConfig(**common, normalize_advantages=False)
        trainer_class = RLOOTrainer
    assert config.use_cpu and not config.bf16 and not config.gradient_checkpointing, "TRL is not at its CPU settings"
    assert config.generation_batch_size == rows and config.steps_per_generation == 1
    timer = StepTimer()
    trainer = trainer_class(
        model=resolve_model_path(args.model),
        reward_funcs=[gold],
        args=config,
        train_dataset=Dataset.from_list([{"prompt": p} for p in prompts]),
        callbacks=[timer],
    )
    trainer.remove_callback(PrinterCallback)
    trainer.train()
    logged = [row["completions/mean_length"] for row in trainer.state.log_history if "completions/mean_length" in row]
    timed = timer.durations[args.warmup :]
    return {
        "seconds": sum(timed),
        "step_s": [round(d, 3) for d in timer.durations],
        "steps": len(timed),
        "tokens": sum(tokens[args.warmup :]),
        "gold_last": statistics.fmean(golds[-args.last :]),
        "gold_first": golds[0],
        # TRL's own count, to check ours: mean completion length logged for the timed steps.
        "log_mean_length": statistics.fmean(logged[args.warmup :]),
    }


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=8, help="Timed steps (after the warm-up steps).")
    p.add_argument("--warmup", type=int, default=2, help="Untimed warm-up steps at the start of each run.")
    p.add_argument("--methods", default="grpo,rloo", help="Comma-separated: grpo, rloo.")
    p.add_argument("--prompts-per-step", type=int, default=16)
    p.add_argument("--group", type=int, default=4, help="Completions per prompt.")
    p.add_argument("--new-tokens", type=int, default=40)
    p.add_argument("--kl-coef", type=float, default=0.05, help="alignlab kl_coef = TRL beta.")
    p.add_argument("--lr", type=float, default=None, help="Learning rate of both (default: the preset's grpo.lr).")
    p.add_argument("--last", type=int, default=4, help="Steps whose gold reward is averaged for the sanity check.")
    args = p.parse_args()
    if args.model == "embedded":
        assert Path(resolve_model_path(args.model)) == embedded_model_dir()
    base = load_config(
        REPO / "configs" / "default.yaml",
        [
            f"model.name_or_path={args.model}",
            "model.dtype=float32",
            "model.trainable_dtype=float32",
            f"generation.max_new_tokens={args.new_tokens}",
            "generation.temperature=1.0",
            "generation.top_k=0",
            "generation.top_p=1.0",
            "evaluation.checkpoints=1",
        ],
    )
    args.lr = base.grpo.lr if args.lr is None else args.lr
    args.last = max(1, min(args.last, args.steps + args.warmup))
    # A chat model's prompts rendered in its template; both sides get the same prompt strings.
    task = load_task(base.task, load_tokenizer(base.model))
    rows = args.prompts_per_step * args.group
    shared = {
        "reward_source": "gold",
        "iterations": args.steps + args.warmup,
        "prompts_per_iteration": args.prompts_per_step,
        "group_size": args.group,
        "batch_size": rows,  # one optimizer step per iteration
        "grad_accum_steps": 1,
        "update_epochs": 1,
        "lr": args.lr,
        "lr_schedule": "constant",
        "warmup_ratio": 0.0,
        "weight_decay": 0.0,
        "max_grad_norm": 1.0,
        "mixed_precision": "no",
        "kl_coef": args.kl_coef,
        "clip_range": 0.2,
        "missing_eos_penalty": 0.0,  # TRL has none: the same gold reward on both sides
        "checkpoint_every": 0,
    }
    per_method = {
        "grpo": {**shared, "loss_type": "dapo", "kl_in_reward": False, "scale_rewards": True},
        "rloo": shared,  # the rloo preset: leave-one-out, kl_in_reward true, loss_type dapo
    }
    figures: dict[str, float | int | str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for method in [m.strip() for m in args.methods.split(",") if m.strip()]:
            mine = ours(
                method,
                base,
                per_method[method],
                task.train_prompts,
                task.reward,
                Path(tmp) / method,
                args.seed,
                args.last,
                args.warmup,
            )
            theirs = trl(
                method, args, task.train_prompts, task.reward, Path(tmp) / f"trl-{method}", args.steps + args.warmup
            )
            for side, run in (("ours", mine), ("trl", theirs)):
                figures[f"{method}_{side}_completion_tokens_per_s"] = run["tokens"] / run["seconds"]
                figures[f"{method}_{side}_s_per_step"] = run["seconds"] / run["steps"]
                figures[f"{method}_{side}_mean_completion_tokens"] = run["tokens"] / run["steps"] / rows
                figures[f"{method}_{side}_gold_first_step"] = run["gold_first"]
                figures[f"{method}_{side}_gold_last_{args.last}_steps"] = run["gold_last"]
                figures[f"{method}_{side}_step_s_with_warmup"] = run["step_s"]
            figures[f"{method}_ratio_vs_trl"] = (
                figures[f"{method}_ours_completion_tokens_per_s"] / figures[f"{method}_trl_completion_tokens_per_s"]
            )
            figures[f"{method}_ratio_s_per_step_trl_vs_ours"] = (
                figures[f"{method}_trl_s_per_step"] / figures[f"{method}_ours_s_per_step"]
            )
            figures.update({f"{method}_ours_time_share_{k}": v for k, v in mine["phases"].items()})
            figures[f"{method}_trl_logged_mean_length"] = theirs["log_mean_length"]
    figures.update(
        {
            "timed_steps": args.steps,
            "warmup_steps": args.warmup,
            "prompts_per_step": args.prompts_per_step,
            "group": args.group,
            "max_new_tokens": args.new_tokens,
            "kl_coef": args.kl_coef,
            "lr": args.lr,
        }
    )
    report(figures, args.json)


if __name__ == "__main__":
    main()
