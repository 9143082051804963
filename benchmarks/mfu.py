"""Model FLOP utilisation: how close alignlab's training steps come to this machine's matmul peak.

The peak is measured here, as the FLOP/s of a large float32 matmul; a step's FLOPs are counted
by ``torch.utils.flop_counter`` (matmuls and attention, forward and backward) on the step
itself. MFU = counted FLOPs / step time / peak. Steps measured: a pretraining step of the
embedded model, a DPO step (chosen and rejected in one forward through ``scoring.PolicyForward``)
and a PPO minibatch update (policy and a value head on its trunk from one forward, the
``ppo.critic: shared`` layout), at the shapes of the default experiment. The LM head runs only on
response positions (packed, chunked, recomputed in backward), so the counted FLOPs are the ones
the step really does, that recomputation included.

    python benchmarks/mfu.py [--json out.json]
"""

from __future__ import annotations

import torch
from _common import best_time, dpo_and_ppo_steps, matmul_peak, parser, report
from torch.utils.flop_counter import FlopCounterMode

from alignlab.config import ModelConfig
from alignlab.models import load_policy


def measure(step, repeats: int = 5) -> tuple[float, float]:
    """(FLOPs of one call of ``step``, its best wall time in seconds)."""
    with FlopCounterMode(display=False) as counter:
        step()
    return counter.get_total_flops(), best_time(step, repeats=repeats, warmup=2)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--prompt-tokens", type=int, default=10)
    p.add_argument("--response-tokens", type=int, default=40)
    p.add_argument("--peak-size", type=int, default=2048, help="Side of the square matmul that measures the peak.")
    args = p.parse_args()
    torch.manual_seed(args.seed)
    model = load_policy(ModelConfig(name_or_path=args.model), torch.device("cpu"))
    vocab = model.config.vocab_size
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5)
    n = args.batch_size

    block = torch.randint(3, vocab, (n, 128))

    def pretrain_step() -> None:
        model(input_ids=block, labels=block).loss.backward()
        optimizer.step()
        optimizer.zero_grad()

    steps = dpo_and_ppo_steps(model, n, args.prompt_tokens, args.response_tokens)

    peak = matmul_peak(args.peak_size)
    figures: dict[str, float] = {"matmul_peak_gflops": peak / 1e9}
    for name, step in [("pretrain", pretrain_step), ("dpo", steps["dpo"]), ("ppo", steps["ppo"])]:
        flops, seconds = measure(step)
        figures[f"{name}_step_gflops"] = flops / seconds / 1e9
        figures[f"{name}_mfu"] = flops / seconds / peak
    report(figures, args.json)


if __name__ == "__main__":
    main()
