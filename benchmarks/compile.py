"""torch.compile against eager on alignlab's training steps: does a compiler pay for the per-op
overhead of a small model on a CPU, once its compile time is counted?

The policy's trunk (the decoder layers, where a 128-wide model spends most of its time outside
matrix multiplies) is compiled in place with ``nn.Module.compile``; the packed LM head and the
losses stay eager (their boolean-mask packing has a data-dependent shape). Measured side by side
in one process, at the default experiment's shapes: a DPO step (chosen and rejected in one
forward, backward, AdamW) and a PPO minibatch update (policy and a value head on its trunk).
For each: the eager step's best time, the compiled step's best time, their ratio, the first
compiled call's time, and the number of steps after which that time is paid back. The first call
traces and generates code with a cold compiler cache (a fresh machine); torch keeps what it
generated on disk (inductor's cache), so a second process pays much less: run the script twice to
see both. Shapes are fixed here, which is the compiler's best case: a real run's
batches vary in length, and each new length may compile again.

    python benchmarks/compile.py [--json out.json]
"""

from __future__ import annotations

import time

import torch
from _common import batch, best_time, parser, report

from alignlab.config import ModelConfig
from alignlab.losses import clipped_surrogate, clipped_value_losses, dpo_loss, masked_mean, sequence_logprobs
from alignlab.models import hidden_size_of, load_policy
from alignlab.scoring import PolicyForward, ValueHead, causal_lm_parts


def steps(model_name: str, n: int, prompt: int, response: int, compiled: bool) -> dict:
    """The DPO and PPO step functions of a freshly loaded policy, its trunk compiled or not."""
    torch.manual_seed(0)
    model = load_policy(ModelConfig(name_or_path=model_name), torch.device("cpu"))
    if compiled:
        trunk, _ = causal_lm_parts(model)
        trunk.compile()
    vocab = model.config.vocab_size
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    pairs = batch(2 * n, prompt, response, vocab)
    reference = torch.zeros(n)
    scorer = PolicyForward(model)

    def dpo_step() -> None:
        logps = sequence_logprobs(scorer(pairs).logprobs, pairs.response_mask)
        dpo_loss(logps[:n], logps[n:], reference, reference, beta=0.1).losses.mean().backward()
        optimizer.step()
        optimizer.zero_grad()

    actor_critic = PolicyForward(model, value_head=ValueHead(hidden_size_of(model)))
    ppo_optimizer = torch.optim.AdamW(actor_critic.parameters(), lr=1e-5)
    rollout = batch(n, prompt, response, vocab)
    mask = rollout.response_mask.float()
    old = torch.zeros(n, response)

    def ppo_step() -> None:
        new = actor_critic(rollout, with_entropy=True)
        per_token = clipped_surrogate(new.logprobs, old, old + 1.0, mask, 0.2).losses
        per_token = per_token + 0.1 * clipped_value_losses(new.values, old, old, mask, 0.2)[0]
        masked_mean(per_token, mask).backward()
        ppo_optimizer.step()
        ppo_optimizer.zero_grad()

    return {"dpo": dpo_step, "ppo": ppo_step}


def first_call(step) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--prompt-tokens", type=int, default=10)
    p.add_argument("--response-tokens", type=int, default=40)
    p.add_argument("--repeats", type=int, default=10)
    args = p.parse_args()
    shape = (args.model, args.batch_size, args.prompt_tokens, args.response_tokens)
    eager, compiled = steps(*shape, compiled=False), steps(*shape, compiled=True)
    figures: dict[str, float] = {}
    for name in ("dpo", "ppo"):
        compile_s = first_call(compiled[name])
        eager_s = best_time(eager[name], repeats=args.repeats, warmup=2)
        compiled_s = best_time(compiled[name], repeats=args.repeats, warmup=2)
        saved = eager_s - compiled_s
        figures[f"{name}_eager_step_s"] = eager_s
        figures[f"{name}_compiled_step_s"] = compiled_s
        figures[f"{name}_speedup"] = eager_s / compiled_s
        figures[f"{name}_first_compiled_call_s"] = compile_s
        figures[f"{name}_break_even_steps"] = compile_s / saved if saved > 0 else float("inf")
    report(figures, args.json)


if __name__ == "__main__":
    main()
