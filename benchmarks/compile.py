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
from _common import best_time, dpo_and_ppo_steps, parser, report

from alignlab.config import ModelConfig
from alignlab.models import load_policy
from alignlab.scoring import causal_lm_parts


def steps(model_name: str, n: int, prompt: int, response: int, compiled: bool) -> dict:
    """The DPO and PPO step functions of a freshly loaded policy, its trunk compiled or not."""
    torch.manual_seed(0)
    model = load_policy(ModelConfig(name_or_path=model_name), torch.device("cpu"))
    if compiled:
        trunk, _ = causal_lm_parts(model)
        trunk.compile()
    return dpo_and_ppo_steps(model, n, prompt, response)


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
