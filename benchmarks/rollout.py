"""Rollout throughput: alignlab's batched, KV-cached sampler against a seed-style loop.

The seed notebook samples one prompt at a time and, for every new token, runs the model over the
whole sequence so far (no KV cache), then draws from a Categorical. Both samplers here produce
the same number of new tokens from the same model and prompts; the ratio of their tokens/s is
printed (target: >= 10x).

    python benchmarks/rollout.py [--json out.json] [--prompts 128] [--new-tokens 40]
"""

from __future__ import annotations

import time

import torch
from _common import best_time, parser, report

from alignlab.config import ModelConfig, SamplingConfig
from alignlab.models import load_causal_lm, load_tokenizer
from alignlab.rollout import sample, tokenize_prompts
from alignlab.tasks.sentiment import pretraining_reviews, review_prompts


@torch.no_grad()
def seed_style_sample(model, tokenizer, prompts: list[str], new_tokens: int) -> int:
    """One prompt at a time, a full forward over the growing sequence for every token."""
    produced = 0
    for prompt in prompts:
        ids = tokenizer(prompt, return_tensors="pt")["input_ids"]
        for _ in range(new_tokens):
            logits = model(input_ids=ids).logits[:, -1, :]
            token = torch.distributions.Categorical(logits=logits).sample()
            ids = torch.cat([ids, token.unsqueeze(0)], dim=-1)
            produced += 1
            if token.item() == tokenizer.eos_token_id:
                break
    return produced


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--prompts", type=int, default=128)
    p.add_argument("--new-tokens", type=int, default=40)
    p.add_argument("--seed-style-prompts", type=int, default=16, help="Prompts for the (slow) seed-style loop.")
    args = p.parse_args()
    config = ModelConfig(name_or_path=args.model)
    tokenizer = load_tokenizer(config)
    model = load_causal_lm(config, torch.device("cpu"), trainable=False)
    prompts = review_prompts(args.prompts, args.seed, pretraining_reviews())
    ids, mask = tokenize_prompts(tokenizer, prompts)
    gen = SamplingConfig(max_new_tokens=args.new_tokens, batch_size=args.prompts)

    # Both samplers stop at EOS; throughput counts the tokens actually produced.
    produced = {}

    def ours() -> None:
        torch.manual_seed(args.seed)
        rollout = sample(model, tokenizer, ids, mask, gen)
        produced["ours"] = int(rollout.response_mask.sum())

    ours_s = best_time(ours)
    seed_prompts = prompts[: args.seed_style_prompts]
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    seed_tokens = seed_style_sample(model, tokenizer, seed_prompts, args.new_tokens)
    seed_s = time.perf_counter() - started

    ours_tps = produced["ours"] / ours_s
    seed_tps = seed_tokens / seed_s
    report(
        {
            "ours_tokens_per_s": ours_tps,
            "seed_loop_tokens_per_s": seed_tps,
            "speedup_vs_seed_loop": ours_tps / seed_tps,
            "ours_tokens": produced["ours"],
            "seed_loop_tokens": seed_tokens,
            "prompts": args.prompts,
            "max_new_tokens": args.new_tokens,
        },
        args.json,
    )


if __name__ == "__main__":
    main()
