"""Killed runs resume to the same result; NaNs stop a run with a message and keep the last good
checkpoint; constant rewards cause no NaN. (Same seed, same metrics: tests/test_comparison.py.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from alignlab.errors import NumericalError
from alignlab.optim import check_finite

REPO = Path(__file__).resolve().parents[1]
SMOKE = str(REPO / "configs" / "smoke.yaml")


def alignlab(*args: str) -> list[str]:
    return [sys.executable, "-m", "alignlab", *args]


def latest_step(out: Path) -> int:
    pointer = out / "checkpoints" / "latest"
    return int(pointer.read_text().split("-")[1]) if pointer.is_file() else 0


def run_killed_then_resumed(args: list[str], out: Path, kill_after_step: int) -> None:
    """Start a run, SIGKILL it once a checkpoint past ``kill_after_step`` exists, resume it."""
    process = subprocess.Popen(alignlab(*args, "--out", str(out)), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while latest_step(out) < kill_after_step and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, (
        "the run finished before it could be killed: " + process.stderr.read().decode()[-2000:]
    )
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert not (out / "summary.json").exists()
    resumed = subprocess.run(
        alignlab(*args, "--out", str(out), "--resume"), capture_output=True, text=True, timeout=600
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]


def run_in_this_process(monkeypatch, args: list[str]) -> None:
    """The uninterrupted run, through the same command line, without a second interpreter."""
    from alignlab.cli import main

    monkeypatch.setattr(sys, "argv", ["alignlab", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert not exit_info.value.code


def final_results(out: Path) -> tuple[dict, dict]:
    return json.loads((out / "summary.json").read_text()), json.loads((out / "history.json").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("lora", [False, True], ids=["full", "lora"])
def test_killed_dpo_run_resumes_to_the_same_result(prefs_jsonl, tmp_path, strip_timing, monkeypatch, lora) -> None:
    """With LoRA the checkpoint holds the adapter alone; the resumed run rebuilds the base."""
    args = [
        "train",
        "dpo",
        "--config",
        SMOKE,
        "--data",
        str(prefs_jsonl),
        "--seed",
        "3",
        "--set",
        "dpo.batch_size=8",
        "--set",
        "dpo.checkpoint_every=2",
        # One pass over the 96 pairs (10 steps), not the smoke preset's budget.
        "--set",
        "budget.sequences=0",
        "--set",
        f"model.lora.enabled={str(lora).lower()}",
    ]
    whole = tmp_path / "whole"
    run_in_this_process(monkeypatch, [*args, "--out", str(whole)])
    run_killed_then_resumed(args, tmp_path / "killed", kill_after_step=4)
    assert strip_timing(final_results(tmp_path / "killed")) == strip_timing(final_results(whole))
    # A finished run keeps no checkpoints, and resuming it trains nothing and rewrites nothing.
    assert not (whole / "checkpoints").exists() and not (tmp_path / "killed" / "checkpoints").exists()
    written = {p: p.stat().st_mtime_ns for p in whole.rglob("*") if p.is_file()}
    run_in_this_process(monkeypatch, [*args, "--out", str(whole), "--resume"])
    assert {p: p.stat().st_mtime_ns for p in whole.rglob("*") if p.is_file()} == written


@pytest.mark.slow
def test_killed_ppo_run_resumes_to_the_same_result(embedded_dir, tmp_path, strip_timing, monkeypatch) -> None:
    args = [
        "train",
        "ppo",
        "--config",
        SMOKE,
        "--seed",
        "3",
        "--set",
        "ppo.reward_source=gold",
        "--set",
        "ppo.iterations=4",
        "--set",
        "ppo.checkpoint_every=1",
    ]
    run_in_this_process(monkeypatch, [*args, "--out", str(tmp_path / "whole")])
    run_killed_then_resumed(args, tmp_path / "killed", kill_after_step=2)
    assert strip_timing(final_results(tmp_path / "killed")) == strip_timing(final_results(tmp_path / "whole"))


def test_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(prefs_jsonl, tmp_path) -> None:
    out = tmp_path / "run"
    result = subprocess.run(
        alignlab(
            "train",
            "dpo",
            "--config",
            SMOKE,
            "--data",
            str(prefs_jsonl),
            "--out",
            str(out),
            "--set",
            "dpo.batch_size=8",
            "--set",
            "dpo.checkpoint_every=1",
            "--set",
            "dpo.lr=1e30",
            "--set",
            "dpo.warmup_ratio=0",
            "--set",
            "dpo.max_grad_norm=0",
        ),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "non-finite" in result.stderr and "at step" in result.stderr and "Traceback" not in result.stderr
    failed_step = int(result.stderr.split("at step ")[1].split(";")[0])
    assert 1 <= latest_step(out) < failed_step
    assert not (out / "summary.json").exists()


def test_check_finite_policies() -> None:

    assert check_finite({"loss": torch.tensor(1.0)}, 3, "stop")
    assert not check_finite({"loss": torch.tensor(float("nan"))}, 3, "skip")
    with pytest.raises(NumericalError, match="non-finite loss at step 3"):
        check_finite({"loss": torch.tensor(float("inf"))}, 3, "stop")


def constant_reward(prompts, completions):
    return [0.25] * len(completions)


@pytest.mark.parametrize("method", ["ppo", "grpo", "rloo"])
def test_constant_rewards_give_zero_advantages_not_nan(embedded_dir, tmp_path, monkeypatch, method) -> None:
    from alignlab.config import load_config
    from alignlab.layout import TrainingDir
    from alignlab.tasks import load_task
    from alignlab.trainers import TrainInputs, train

    monkeypatch.syspath_prepend(str(REPO))
    config = load_config(
        SMOKE,
        [
            f"{method}.reward_source=gold",
            f"{method}.iterations=2",
            "task.reward=tests.test_reliability:constant_reward",
        ],
    )
    task = load_task(config.task)
    train(TrainInputs(method, config, prompts=task.train_prompts, gold_reward=task.reward), TrainingDir(tmp_path))
    history = json.loads((tmp_path / "history.json").read_text())["train"]
    assert all(v == v and abs(v) != float("inf") for row in history for v in row.values())
    if method == "ppo":
        return  # PPO's advantages come from its critic's values: not zero, but finite.
    # No signal: every advantage is 0 (not 0/0), so the policy-gradient term is exactly 0. (The
    # KL term's gradient is float noise at the start, which AdamW still turns into steps of size lr:
    # the policy stays next to the reference rather than exactly on it.)
    assert all(row["advantage/abs_mean"] == 0.0 and row["loss/policy"] == 0.0 for row in history)
    assert all(row["objective/kl"] < 0.01 for row in history)
