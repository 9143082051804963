"""Online RL throughput: alignlab's PPO against a seed-style PPO loop, with GRPO and RLOO beside it.

"Trained tokens/s" is the number of response tokens that went through an update, divided by
the wall time of whole iterations (sampling, scoring, update epochs). Everything runs on the same
model with the same response length, update epochs and gold reward (PPO-GT), so the reward
model's cost is out of the picture; all three go through ``alignlab.trainers.train`` with
the default preset's settings. PPO runs twice: with its default separate critic (a second full
model, trained), and with ``critic: shared`` (a value head on the policy's trunk, one forward for
both), which is the seed loop's layout: ``speedup_shared_vs_seed_loop`` is the like-for-like
ratio, ``speedup_vs_seed_loop`` the one with the separate critic's extra work. The seed-style loop is the
notebook's structure: one prompt at a time, a full forward per generated token plus a separate
forward for the value, then per epoch a forward for the policy and another for the value with
Python loops over tokens; its losses are ``losses.clipped_surrogate`` and
``losses.clipped_value_losses``, each a token mean.

    python benchmarks/ppo.py [--json out.json] [--iterations 4] [--prompts 64]
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import torch
from _common import parser, report

from alignlab.config import load_config, method_config
from alignlab.layout import TrainingDir
from alignlab.losses import clipped_surrogate, clipped_value_losses, masked_mean
from alignlab.models import hidden_size_of, load_causal_lm, load_tokenizer
from alignlab.scoring import ValueHead
from alignlab.tasks import load_task
from alignlab.trainers import TrainInputs, train

REPO = Path(__file__).resolve().parents[1]


def trained_tokens_per_s(out: Path, sequences_per_iteration: int) -> tuple[float, dict[str, float]]:
    history = json.loads((out / "history.json").read_text())["train"]
    tokens = sum(row["rollout/response_length"] * sequences_per_iteration for row in history)
    seconds = sum(row["perf/iteration_s"] for row in history)
    last = history[-1]
    split = {k.split("/")[1]: last[k] / seconds for k in last if k.startswith("time/")}
    return tokens / seconds, split


def seed_style_ppo(config, prompts: list[str], reward, update_epochs: int) -> tuple[float, int]:
    """(seconds, response tokens) of the notebook-style loop over ``prompts``."""
    tokenizer = load_tokenizer(config.model)
    policy = load_causal_lm(config.model, torch.device("cpu"), trainable=True)
    reference = load_causal_lm(config.model, torch.device("cpu"), trainable=False)
    value_head = ValueHead(hidden_size_of(policy))
    cfg = config.ppo
    policy_opt = torch.optim.AdamW(policy.parameters(), lr=cfg.lr)
    value_opt = torch.optim.AdamW(value_head.parameters(), lr=cfg.lr)
    max_new = config.generation.max_new_tokens
    tokens = 0
    started = time.perf_counter()
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
        prompt_len = ids.shape[1]
        old_logps, old_values = [], []
        with torch.no_grad():
            for _ in range(max_new):
                logits = policy(input_ids=ids).logits[:, -1]
                dist = torch.distributions.Categorical(logits=logits)
                action = dist.sample()
                old_logps.append(dist.log_prob(action))
                hidden = policy(input_ids=ids, output_hidden_states=True).hidden_states[-1][:, -1]
                old_values.append(value_head(hidden))
                ids = torch.cat([ids, action.unsqueeze(0)], dim=-1)
                if action.item() == tokenizer.eos_token_id:
                    break
        steps = ids.shape[1] - prompt_len
        tokens += steps
        score = reward([prompt], [tokenizer.decode(ids[0, prompt_len:], skip_special_tokens=True)])[0]
        rewards = [0.0] * (steps - 1) + [score]
        old_logps, old_values = torch.cat(old_logps), torch.cat(old_values)
        advantages, last = [0.0] * steps, 0.0
        for t in reversed(range(steps)):
            next_value = old_values[t + 1].item() if t + 1 < steps else 0.0
            last = rewards[t] + next_value - old_values[t].item() + cfg.lam * last
            advantages[t] = last
        advantages = torch.tensor(advantages)
        returns = advantages + old_values
        mask = torch.ones(1, steps)
        for _ in range(update_epochs):
            logits = policy(input_ids=ids).logits[0]
            with torch.no_grad():
                reference(input_ids=ids)
            new_logps = torch.stack(
                [
                    torch.distributions.Categorical(logits=logits[prompt_len + t - 1]).log_prob(ids[0, prompt_len + t])
                    for t in range(steps)
                ]
            )
            surrogate = clipped_surrogate(new_logps[None], old_logps[None], advantages[None], mask, cfg.clip_range)
            loss = masked_mean(surrogate.losses, mask)
            policy_opt.zero_grad()
            loss.backward()
            policy_opt.step()
            with torch.no_grad():
                hidden = policy(input_ids=ids, output_hidden_states=True).hidden_states[-1][0]
            values = torch.stack([value_head(hidden[prompt_len + t - 1]) for t in range(steps)])
            value_losses, _ = clipped_value_losses(
                values[None], old_values[None], returns[None], mask, cfg.value_clip_range
            )
            value_loss = masked_mean(value_losses, mask)
            value_opt.zero_grad()
            value_loss.backward()
            value_opt.step()
    return time.perf_counter() - started, tokens


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--iterations", type=int, default=4)
    p.add_argument(
        "--prompts", type=int, default=64, help="Sequences per iteration (PPO prompts; GRPO/RLOO prompts x group)."
    )
    p.add_argument("--seed-style-prompts", type=int, default=8)
    args = p.parse_args()
    group = 4
    base = load_config(
        REPO / "configs" / "default.yaml", [f"model.name_or_path={args.model}", "evaluation.checkpoints=1"]
    )
    task = load_task(base.task)
    common = {
        "reward_source": "gold",
        "iterations": args.iterations,
        "batch_size": min(32, args.prompts),
        "checkpoint_every": 0,
    }
    # figure prefix -> (method, its settings): PPO on the gold reward (PPO-GT) with either critic, GRPO and RLOO.
    per_method = {
        "ppo": ("ppo-gt", {"prompts_per_iteration": args.prompts}),
        "ppo_shared": ("ppo-gt", {"prompts_per_iteration": args.prompts, "critic": "shared"}),
        "grpo": ("grpo", {"prompts_per_iteration": args.prompts // group, "group_size": group}),
        "rloo": ("rloo", {"prompts_per_iteration": args.prompts // group, "group_size": group}),
    }
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (method, settings) in per_method.items():
            config = method_config(base, method, {**common, **settings})
            out = Path(tmp) / name
            inputs = TrainInputs(method, config, seed=args.seed, prompts=task.train_prompts, gold_reward=task.reward)
            summary = train(inputs, TrainingDir(out))
            rate, split = trained_tokens_per_s(out, args.prompts)
            figures[f"{name}_trained_tokens_per_s"] = rate
            figures[f"{name}_peak_mem_mb"] = summary["cost"]["peak_mem_mb"]
            figures[f"{name}_models_in_memory"] = summary["cost"]["models_in_memory"]
            if name == "ppo":
                figures.update({f"ppo_time_share_{k}": v for k, v in split.items()})
                ppo_config = config
    torch.manual_seed(args.seed)
    seconds, tokens = seed_style_ppo(
        ppo_config, task.train_prompts[: args.seed_style_prompts], task.reward, ppo_config.ppo.update_epochs
    )
    figures["seed_loop_trained_tokens_per_s"] = tokens / seconds
    seed_loop = figures["seed_loop_trained_tokens_per_s"]
    figures["speedup_vs_seed_loop"] = figures["ppo_trained_tokens_per_s"] / seed_loop
    figures["speedup_shared_vs_seed_loop"] = figures["ppo_shared_trained_tokens_per_s"] / seed_loop
    report(figures, args.json)


if __name__ == "__main__":
    main()
