"""Data parallelism is exact: two processes (torchrun, gloo, CPU) train to the same weights and log
the same global metrics as one process on the same global batch, for the offline trainers (DPO,
the reward model) and the online ones (PPO, RLOO, and GRPO at one optimizer step an iteration,
where log pi_old and the logged KL come from the update's forward; gradient accumulation on top); the
advantage pipeline on a gathered batch equals the single-process one; an uneven prompt split is
refused before anything runs.

Each torchrun launch costs seconds of start-up alone, so everything runs in two launches of one
worker (``tests/distributed_worker.py``): the one-process reference and the two-process run, side
by side (one torch thread each, so the float results do not depend on the thread count). On this
CPU-only machine `accelerate launch --cpu` would start one process only (accelerate issue 2741),
so the worker goes under torchrun, and every test checks that two processes ran."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.distributed_worker import advantage_batch, advantage_pipeline, train_scorer, write_pairs

# Built once, on one pytest-xdist worker: the torchrun launches the tests share.
pytestmark = pytest.mark.xdist_group("torchrun")

WORKER = str(Path(__file__).resolve().parent / "distributed_worker.py")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
# float32 sums in another order (per process, then all-reduced) differ in the last bits.
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def launches(tmp_path_factory, embedded_dir) -> tuple[Path, Path]:
    """The worker's output directories: (one process, two processes)."""
    root = tmp_path_factory.mktemp("data_parallel")
    pairs = write_pairs(root / "pairs.jsonl")
    scorer = train_scorer(pairs, root / "scorer")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    commands = {"one": [sys.executable, WORKER], "two": [*TORCHRUN, WORKER]}
    running = {}
    for name, command in commands.items():
        with (root / f"{name}.log").open("w") as log:
            arguments = [*command, str(root / name), str(pairs), str(scorer)]
            # A session of its own: a launch that hangs is killed with its workers.
            running[name] = subprocess.Popen(arguments, stdout=log, stderr=log, env=env, start_new_session=True)
    try:
        for name, process in running.items():
            assert process.wait(timeout=600) == 0, (root / f"{name}.log").read_text()[-4000:]
    finally:
        for process in running.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    return root / "one", root / "two"


def _run(out: Path, processes: int) -> tuple[dict, dict, dict]:
    summary = json.loads((out / "summary.json").read_text())
    assert summary["processes"] == processes
    history = json.loads((out / "history.json").read_text())
    return summary, history, load_file(str(out / "model" / "model.safetensors"))


def _max_difference(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k] - b[k]).abs().max()) for k in a)


def _assert_same_rows(rows1: list[dict], rows2: list[dict], skip: tuple[str, ...] = ()) -> None:
    assert len(rows1) == len(rows2) > 0
    for a, b in zip(rows1, rows2):
        assert a.keys() == b.keys()
        for key in (k for k in a if not any(s in k for s in skip)):
            assert a[key] == pytest.approx(b[key], rel=TOLERANCE, abs=TOLERANCE), (a["step"], key)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dpo", "rm"])
def test_offline_two_processes_of_b_equal_one_process_of_2b(launches, name, strip_timing) -> None:
    """The global batch of 16 pairs: 8 per process (the reward model: 4 per micro-batch, with
    gradient accumulation) against 16 in one process. Per-step loss and final weights to 1e-5."""
    one, two = (_run(out / name, n) for out, n in zip(launches, (1, 2)))
    (summary1, history1, weights1), (summary2, history2, weights2) = one, two
    assert _max_difference(weights1, weights2) < TOLERANCE
    losses1, losses2 = ([row["train/loss"] for row in h["train"]] for h in (history1, history2))
    assert len(losses1) == 3 and max(abs(a - b) for a, b in zip(losses1, losses2)) < TOLERANCE
    # DPO's accuracy counts signs of margins that start at exactly 0 (policy = reference): float
    # noise decides them, so only its continuous metrics are compared.
    skip = ("accuracy",) if name == "dpo" else ()
    _assert_same_rows(strip_timing(history1["train"]), strip_timing(history2["train"]), skip)
    _assert_same_rows(history1["eval"], history2["eval"], skip)
    assert summary1["cost"]["tokens"] == summary2["cost"]["tokens"]
    if name == "dpo":
        # Each process scored half of the reference batches; the all-reduce gave both all of them.
        references = [load_file(str(out / name / "reference_logps.safetensors")) for out in launches]
        assert all(torch.equal(references[0][k], references[1][k]) for k in ("chosen", "rejected"))
        assert bool((references[0]["chosen"] < 0).all())
    if name == "rm":
        for key in ("mean", "std"):
            assert summary1["normalization"][key] == pytest.approx(summary2["normalization"][key], abs=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["ppo", "grpo", "rloo"])
def test_online_two_processes_equal_one_process(launches, name, strip_timing) -> None:
    """Each process samples and scores half of the prompts, the rollouts are gathered and every
    minibatch is split over the processes: the same weights and logged global metrics (KL,
    rewards, losses, clip fractions, explained variance...) as one process on the whole batch."""
    one, two = (_run(out / name, n) for out, n in zip(launches, (1, 2)))
    (summary1, history1, weights1), (summary2, history2, weights2) = one, two
    assert _max_difference(weights1, weights2) < TOLERANCE
    _assert_same_rows(strip_timing(history1["train"]), strip_timing(history2["train"]))
    assert summary1["cost"]["tokens"] == summary2["cost"]["tokens"]
    assert summary1["iterations"] == summary2["iterations"] == 2


@pytest.mark.slow
def test_advantages_of_the_gathered_batch_equal_the_single_process_ones(launches) -> None:
    """Each of two processes took its shard of a fixed batch (narrower than the batch, as
    sampling leaves it), gathered it and ran the advantage pipeline (PPO's GAE and whitening,
    GRPO's and Dr. GRPO's group advantages, RLOO's leave-one-out, REINFORCE++'s batch
    whitening, DAPO's group filter, KL and explained variance): both hold the single-process
    result on the whole batch, to 1e-6."""
    _, two = launches
    assert json.loads((two / "done.json").read_text())["processes"] == 2
    batch = advantage_batch()
    expected = advantage_pipeline(batch)
    for rank in (0, 1):
        got = load_file(str(two / f"advantages-rank{rank}.safetensors"))
        assert torch.equal(got.pop("inputs/mask"), batch["mask"])
        assert got.keys() == expected.keys()
        for key, value in expected.items():
            assert torch.allclose(got[key], value, rtol=0, atol=1e-6), (rank, key)
    # The check can fail: statistics of one process's half are not those of the batch.
    half = advantage_pipeline({k: v[: len(v) // 2] for k, v in batch.items()})
    for key in ("ppo/advantages", "reinforce++/advantages"):
        assert not torch.allclose(half[key], expected[key][: len(half[key])], atol=1e-3), key


@pytest.mark.slow
def test_uneven_prompt_split_is_refused_before_anything_runs(launches) -> None:
    """7 prompts per iteration over 2 processes: refused (in the two-process launch) before any
    sampling, with only the saved config in the run directory."""
    _, two = launches
    assert json.loads((two / "done.json").read_text())["processes"] == 2
    refusal = json.loads((two / "uneven.json").read_text())
    assert "do not split evenly over 2 processes" in refusal["refusal"]
    assert refusal["files"] == ["config.yaml"]


def test_value_clip_fraction_counts_no_rounding_noise() -> None:
    """Inside the clip V_old + (V - V_old) is V up to rounding, and which of the two equal errors
    is larger was float noise: it counted ~0.2 % of unclipped tokens as clipped, so that
    ``value/clipfrac`` differed between one process and two. Only values moved past the clip count."""
    from alignlab.losses import clipped_value_losses

    generator = torch.Generator().manual_seed(0)
    values = torch.randn(1, 4000, generator=generator)
    old = values + torch.randn(1, 4000, generator=generator) * 0.15
    returns = torch.randn(1, 4000, generator=generator)
    _, clipped = clipped_value_losses(values, old, returns, torch.ones(1, 4000), clip_range=0.2)
    outside = (values - old).abs() > 0.2
    assert clipped[~outside].sum() == 0
    moved = old + (values - old).clamp(-0.2, 0.2)
    assert torch.equal(clipped[outside].bool(), ((moved - returns) ** 2 > (values - returns) ** 2)[outside])
    assert 0 < clipped.sum() < outside.sum()
