"""Data parallelism is exact: two processes (torchrun, gloo) train to the same weights and the
same logged metrics as one process, for an offline (DPO) and an online (GRPO) trainer, with
gradient accumulation on top. On this CPU-only machine `accelerate launch --cpu` would start one
process only (accelerate issue 2741), so the test launches torchrun and checks that two ran."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

REPO = Path(__file__).resolve().parents[1]
SMOKE = str(REPO / "configs" / "smoke.yaml")
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]


def _run(command: list[str], out: Path) -> tuple[dict, dict, dict]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    summary = json.loads((out / "summary.json").read_text())
    return summary, json.loads((out / "history.json").read_text()), load_file(str(out / "model" / "model.safetensors"))


def _assert_same(one: tuple, two: tuple, strip_timing, tolerance: float) -> None:
    (summary1, history1, weights1), (summary2, history2, weights2) = one, two
    assert summary1["processes"] == 1 and summary2["processes"] == 2
    assert max(float((weights1[k] - weights2[k]).abs().max()) for k in weights1) < tolerance
    rows1, rows2 = strip_timing(history1["train"]), strip_timing(history2["train"])
    assert len(rows1) == len(rows2)
    for a, b in zip(rows1, rows2):
        assert a.keys() == b.keys()
        # Accuracies count signs of margins that start at exactly 0 (policy = reference): float
        # noise decides them, so only the continuous metrics are compared.
        for key in (k for k in a if "accuracy" not in k):
            assert a[key] == pytest.approx(b[key], rel=1e-4, abs=1e-6), key


@pytest.mark.slow
def test_two_process_dpo_equals_one_process(prefs_jsonl, tmp_path, strip_timing) -> None:
    args = ["-m", "alignlab", "train", "dpo", "--config", SMOKE, "--data", str(prefs_jsonl)]
    args += ["--set", "dpo.batch_size=16", "--set", "dpo.grad_accum_steps=2", "--set", "dpo.max_steps=3"]
    one = _run([sys.executable, *args], tmp_path / "one")
    two = _run([*TORCHRUN, *args], tmp_path / "two")
    _assert_same(one, two, strip_timing, 1e-6)
    assert one[1]["eval"][-1]["eval/loss"] == pytest.approx(two[1]["eval"][-1]["eval/loss"], rel=1e-5)


@pytest.mark.slow
def test_two_process_grpo_equals_one_process(embedded_dir, tmp_path, strip_timing) -> None:
    args = ["-m", "alignlab", "train", "grpo", "--config", SMOKE]
    for setting in (
        "reward_source=gold",
        "iterations=2",
        "prompts_per_iteration=8",
        "batch_size=16",
        "grad_accum_steps=2",
    ):
        args += ["--set", f"grpo.{setting}"]
    one = _run([sys.executable, *args], tmp_path / "one")
    two = _run([*TORCHRUN, *args], tmp_path / "two")
    _assert_same(one, two, strip_timing, 1e-5)


def test_uneven_prompt_split_is_refused_before_anything_runs(embedded_dir, tmp_path) -> None:
    args = ["-m", "alignlab", "train", "grpo", "--config", SMOKE, "--set", "grpo.prompts_per_iteration=7"]
    args += ["--set", "grpo.batch_size=4", "--set", "grpo.group_size=4"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([*TORCHRUN, *args, "--out", str(tmp_path / "r")], capture_output=True, text=True, env=env)
    assert done.returncode != 0
    assert "do not split evenly over 2 processes" in done.stdout + done.stderr
