"""pass@k of a base model on the arithmetic task's test prompts, by difficulty.

Usage (from the repository root)::

    PYTHONPATH=src .venv/bin/python scripts/arith_pass_at_k.py [--model embedded-arith] [--steps 3 4 5 6]
        [--prompts 200] [--samples 16] [--temperature 1.0] [--out FILE.json]

For each difficulty (events per problem) it samples ``--samples`` completions of each of the first
``--prompts`` test prompts (``task.split_seed`` 1234, as the task draws them) with alignlab's own
sampler, judges them with the task's reward, and prints: pass@1, pass@4 and pass@8 (the unbiased
estimator of Chen et al. 2021 from the n samples), the format rate (a well-formed ``Answer:``
line), the share of completions that ended with EOS, and the mean length in tokens of the right
and of the wrong completions (format failures included among the wrong). Seeded: the same
arguments give the same numbers on the same machine.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from alignlab.config import SamplingConfig
from alignlab.models import resolve_model_path
from alignlab.rollout import decode_responses, sample, tokenize_prompts
from alignlab.tasks.arithmetic import problem_prompt, split_problems
from alignlab.tasks.arithmetic_reward import judge
from alignlab.tasks.verifiable import mean_pass_at_k

KS = (1, 4, 8)


def measure(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    num_steps: int,
    num_prompts: int,
    n: int,
    temperature: float,
    seed: int,
) -> dict[str, Any]:
    """pass@k, format rate, EOS rate and lengths of ``n`` samples of each of the first
    ``num_prompts`` test prompts of ``num_steps`` events (one row of the table)."""
    problems = split_problems("test", num_prompts, 1234, num_steps)
    prompts = [problem_prompt(p) for p in problems]
    ids, mask = tokenize_prompts(tokenizer, prompts)
    torch.manual_seed(seed)
    sampling = SamplingConfig(max_new_tokens=24 + 12 * num_steps, temperature=temperature, batch_size=512)
    started = time.perf_counter()
    rollout = sample(model, tokenizer, ids.repeat_interleave(n, 0), mask.repeat_interleave(n, 0), sampling)
    texts = decode_responses(tokenizer, rollout)
    verdicts = [judge(text, problems[i // n].answer) for i, text in enumerate(texts)]
    lengths = rollout.response_mask.sum(-1).tolist()
    correct_counts = [sum(v.correct for v in verdicts[i * n : (i + 1) * n]) for i in range(len(problems))]
    right = [length for length, v in zip(lengths, verdicts) if v.correct]
    wrong = [length for length, v in zip(lengths, verdicts) if not v.correct]
    return {
        "num_steps": num_steps,
        "prompts": len(problems),
        "samples_per_prompt": n,
        **{f"pass@{k}": mean_pass_at_k(correct_counts, n, k) for k in KS if k <= n},
        "format_rate": sum(v.format_ok for v in verdicts) / len(verdicts),
        "ended_rate": float(rollout.ended.float().mean()),
        "mean_tokens_right": sum(right) / max(len(right), 1),
        "mean_tokens_wrong": sum(wrong) / max(len(wrong), 1),
        "sampling_time_s": time.perf_counter() - started,
        "example": prompts[0] + texts[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="embedded-arith")
    parser.add_argument("--steps", type=int, nargs="+", default=[3, 4, 5, 6])
    parser.add_argument("--prompts", type=int, default=200)
    parser.add_argument("--samples", type=int, default=16)
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    path = resolve_model_path(args.model)
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    rows = [measure(model, tokenizer, s, args.prompts, args.samples, args.temperature, args.seed) for s in args.steps]
    header = f"{'steps':>5} " + " ".join(f"{'pass@' + str(k):>7}" for k in KS) + "  format  ended  tokens right/wrong"
    print(header)
    for row in rows:
        passes = " ".join(f"{row[f'pass@{k}']:7.3f}" for k in KS)
        print(
            f"{row['num_steps']:5d} {passes}  {row['format_rate']:6.3f} {row['ended_rate']:6.3f}"
            f"  {row['mean_tokens_right']:5.1f} / {row['mean_tokens_wrong']:5.1f}"
        )
    if args.out:
        args.out.write_text(json.dumps({"model": str(path), "temperature": args.temperature, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
