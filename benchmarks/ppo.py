"""Online RL throughput: alignlab's PPO against a seed-style PPO loop, with GRPO and RLOO beside it.

"Trained tokens/s" is the number of response tokens that went through an update, divided by
the wall time of whole iterations (sampling, scoring, update epochs). Everything runs on the same
model with the same response length, update epochs and gold reward (PPO-GT), so the reward
model's cost is out of the picture. The seed-style loop is the notebook's structure: one prompt
at a time, a full forward per generated token plus a separate forward for the value, then per
epoch a forward for the policy and another for the value with Python loops over tokens.

    python benchmarks/ppo.py [--json out.json] [--iterations 4] [--prompts 64]
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

import torch
from _common import parser, report

from alignlab.config import load_config
from alignlab.losses import clipped_policy_loss, clipped_value_loss
from alignlab.models import ValueHead, hidden_size_of, load_causal_lm, load_tokenizer
from alignlab.tasks import load_task
from alignlab.trainers.grpo import train_grpo, train_rloo
from alignlab.trainers.ppo import train_ppo

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
    policy_opt = torch.optim.AdamW(policy.parameters(), lr=config.ppo.lr)
    value_opt = torch.optim.AdamW(value_head.parameters(), lr=config.ppo.lr)
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
            last = rewards[t] + next_value - old_values[t].item() + config.ppo.lam * last
            advantages[t] = last
        advantages = torch.tensor(advantages)
        returns = advantages + old_values
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
            loss = clipped_policy_loss(
                new_logps[None], old_logps[None], advantages[None], torch.ones(1, steps), 0.2
            ).loss
            policy_opt.zero_grad()
            loss.backward()
            policy_opt.step()
            with torch.no_grad():
                hidden = policy(input_ids=ids, output_hidden_states=True).hidden_states[-1][0]
            values = torch.stack([value_head(hidden[prompt_len + t - 1]) for t in range(steps)])
            value_loss, _ = clipped_value_loss(values[None], old_values[None], returns[None], torch.ones(1, steps), 0.2)
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
    common = [f"model.name_or_path={args.model}"]
    per_method = {
        "ppo": [f"ppo.prompts_per_iteration={args.prompts}"],
        "grpo": [f"grpo.prompts_per_iteration={args.prompts // group}", f"grpo.group_size={group}"],
        "rloo": [f"rloo.prompts_per_iteration={args.prompts // group}", f"rloo.group_size={group}"],
    }
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for method, settings in per_method.items():
            config = load_config(
                REPO / "configs" / "default.yaml",
                common
                + settings
                + [f"{method}.reward_source=gold", f"{method}.iterations={args.iterations}", f"{method}.batch_size=32"],
            )
            task = load_task(config.task)
            trainer = {"ppo": train_ppo, "grpo": train_grpo, "rloo": train_rloo}[method]
            out = Path(tmp) / method
            summary = trainer(config, task.train_prompts, task.reward, out, args.seed)
            rate, split = trained_tokens_per_s(out, args.prompts)
            figures[f"{method}_trained_tokens_per_s"] = rate
            figures[f"{method}_peak_mem_mb"] = summary["cost"]["peak_mem_mb"]
            figures[f"{method}_models_in_memory"] = summary["cost"]["models_in_memory"]
            if method == "ppo":
                figures.update({f"ppo_time_share_{k}": v for k, v in split.items()})
                ppo_config = config
    torch.manual_seed(args.seed)
    seconds, tokens = seed_style_ppo(
        ppo_config, task.train_prompts[: args.seed_style_prompts], task.reward, ppo_config.ppo.update_epochs
    )
    figures["seed_loop_trained_tokens_per_s"] = tokens / seconds
    figures["speedup_vs_seed_loop"] = figures["ppo_trained_tokens_per_s"] / figures["seed_loop_trained_tokens_per_s"]
    report(figures, args.json)


if __name__ == "__main__":
    main()
