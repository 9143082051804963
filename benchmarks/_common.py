"""Helpers shared by the benchmark scripts: argument parsing, timing and the JSON output."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import datasets  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402

from alignlab.batch import Sequences  # noqa: E402
from alignlab.losses import (  # noqa: E402
    clipped_surrogate,
    clipped_value_losses,
    dpo_loss,
    masked_mean,
    sequence_logprobs,
)
from alignlab.models import hidden_size_of  # noqa: E402
from alignlab.scoring import PolicyForward, ValueHead  # noqa: E402

transformers.utils.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()
datasets.disable_progress_bars()


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--json", type=Path, default=None, help="Also write the figures to this JSON file.")
    p.add_argument("--model", default="embedded", help="Model to benchmark (hub id, path or 'embedded').")
    p.add_argument("--seed", type=int, default=0)
    return p


def best_time(fn: Callable[[], Any], repeats: int = 3, warmup: int = 1) -> float:
    """The fastest of ``repeats`` timed calls after ``warmup`` untimed ones (seconds)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return min(times)


def matmul_peak(size: int = 2048, repeats: int = 10, dtype: torch.dtype = torch.float32) -> float:
    """This machine's matmul FLOP/s: the best of three timings of ``repeats`` square matmuls in
    ``dtype``, on the GPU where there is one."""
    device = "cuda" if torch.cuda.is_available() else "cpu"
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))

    def matmuls() -> None:
        for _ in range(repeats):
            a @ b
        if device == "cuda":
            torch.cuda.synchronize()

    return 2 * size**3 * repeats / best_time(matmuls, repeats=3)


def batch(rows: int, prompt: int, response: int, vocab: int) -> Sequences:
    """``rows`` random sequences of ``prompt`` + ``response`` tokens, no padding (ids from 3 on,
    past the special tokens)."""
    return Sequences(
        prompt_ids=torch.randint(3, vocab, (rows, prompt)),
        prompt_mask=torch.ones(rows, prompt, dtype=torch.long),
        response_ids=torch.randint(3, vocab, (rows, response)),
        response_mask=torch.ones(rows, response, dtype=torch.long),
    )


def dpo_and_ppo_steps(model: torch.nn.Module, n: int, prompt: int, response: int) -> dict[str, Callable[[], None]]:
    """A DPO step (``n`` pairs, chosen and rejected in one forward, backward, AdamW) and a PPO
    minibatch update (``n`` rollouts, policy and a value head on its trunk, the ``ppo.critic:
    shared`` layout) of ``model``, on random tokens of ``prompt`` + ``response``."""
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


def environment() -> dict[str, Any]:
    return {
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "threads": torch.get_num_threads(),
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else platform.processor() or "cpu",
    }


def report(figures: dict[str, Any], json_path: Path | None) -> None:
    """Print the figures one per line and, if asked, write them as JSON."""
    for key, value in figures.items():
        print(f"{key:>32}: {value:.4g}" if isinstance(value, float) else f"{key:>32}: {value}")
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps({**figures, "environment": environment()}, indent=2), encoding="utf-8")
