"""What a stage costs: wall time per phase, trained tokens, and the memory it needed.

One definition of trained tokens for every method: the non-padding tokens (prompt and
response) that went through a forward pass *with gradient*, counted over all processes. No-grad
passes (sampling, old and reference log-probs, reward scores) are time, not trained tokens, so
tokens/s measures the same work for an offline and an online method.

Training FLOPs are estimated the usual way (Kaplan et al. 2020) per trained token: 2 x the
parameters the gradient passes run through for the forward, 2 x them again for the backward's
gradient with respect to the activations, and 2 x the *trainable* parameters for the gradient with
respect to the weights: 6 x parameters with full fine-tuning, about 4 x with LoRA, whose frozen
weights get no weight gradient. The no-grad passes are left out, as in the tokens; so is the
forward that gradient checkpointing recomputes (model FLOPs, not hardware FLOPs).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psutil
import torch
from torch import nn


class PeakMemory:
    """The memory a stage needed, measured in isolation from what the process already held:
    the peak during the stage minus the level at its start (the CUDA allocator's on a GPU, the
    process RSS sampled by a background thread on a CPU). So a comparison's runs, serial in one
    process or spread over Ray workers, each report their own models, optimizer state and
    activations, not the evaluation models resident beside them."""

    def __init__(self, interval_s: float = 0.05) -> None:
        self.interval_s = interval_s
        self.start_bytes = 0
        self.peak_bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _sample(self) -> None:
        process = psutil.Process()
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, process.memory_info().rss)
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakMemory:
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
            self.start_bytes = torch.cuda.memory_allocated()
        else:
            self.start_bytes = self.peak_bytes = psutil.Process().memory_info().rss
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop measuring (idempotent); ``peak_mb`` is final from here on."""
        if torch.cuda.is_available():
            self.peak_bytes = max(self.peak_bytes, torch.cuda.max_memory_allocated())
        elif self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self.peak_bytes = max(self.peak_bytes, psutil.Process().memory_info().rss)

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def peak_mb(self) -> float:
        """Peak memory above the level at the start, in MiB."""
        return max(self.peak_bytes - self.start_bytes, 0) / 2**20


@dataclass
class Cost:
    """Wall time, trained tokens and memory of one stage."""

    wall_time_s: float = 0.0
    tokens: int = 0
    peak_mem_mb: float = 0.0
    models_in_memory: int = 1
    trainable_params: int = 0
    total_params: int = 0
    # Sequences through a forward and backward pass with gradient (the budget's unit).
    sequences: int = 0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.wall_time_s if self.wall_time_s > 0 else 0.0

    @property
    def train_flops(self) -> float:
        """Estimated FLOPs of the gradient passes: (4 x parameters + 2 x trainable) x trained tokens."""
        return (4.0 * self.total_params + 2.0 * self.trainable_params) * self.tokens

    def as_dict(self) -> dict[str, float]:
        return {
            "wall_time_s": self.wall_time_s,
            "tokens": self.tokens,
            "tokens_per_s": self.tokens_per_s,
            "peak_mem_mb": self.peak_mem_mb,
            "models_in_memory": self.models_in_memory,
            "trainable_params": self.trainable_params,
            "total_params": self.total_params,
            "train_flops": self.train_flops,
            "sequences": self.sequences,
        }


class Stopwatch:
    """Accumulates wall time per named phase (generation, scoring, training)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}

    def phase(self, name: str) -> _Phase:
        return _Phase(self, name)


class _Phase:
    def __init__(self, watch: Stopwatch, name: str) -> None:
        self.watch, self.name = watch, name

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.watch.totals[self.name] = self.watch.totals.get(self.name, 0.0) + time.perf_counter() - self.start


def trainable_dtypes(model: nn.Module) -> list[str]:
    """The storage dtypes of the trainable weights (the optimizer's master copy), e.g. ["float32"]."""
    return sorted({str(p.dtype).removeprefix("torch.") for p in model.parameters() if p.requires_grad})
