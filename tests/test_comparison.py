"""The whole comparison, end to end on the smoke preset: every method gives finite numbers, the
report embeds the frontier, and the same seed gives identical metrics."""

from __future__ import annotations

import html
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from alignlab.config import METHODS

REPO = Path(__file__).resolve().parents[1]
SMOKE = str(REPO / "configs" / "smoke.yaml")
NUMBERS = (
    "gold_reward",
    "win_rate",
    "kl",
    "perplexity",
    "distinct_1",
    "distinct_2",
    "self_bleu",
    "relevance",
    "mean_length",
)


def compare(out: Path) -> dict:
    result = subprocess.run(
        [sys.executable, "-m", "alignlab", "compare", SMOKE, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, embedded_dir) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("compare") / "run"
    return out, compare(out)


@pytest.mark.slow
def test_every_method_has_finite_results_and_a_report(smoke_run) -> None:
    out, metrics = smoke_run
    methods = {r["method"] for r in metrics["results"]}
    assert methods == {"base"} | set(METHODS)
    for record in metrics["results"]:
        for key in NUMBERS:
            assert isinstance(record[key], float) and math.isfinite(record[key]), (record["method"], key)
        assert record["kl"] >= 0
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "Reward–KL frontier" in report and 'src="data:image/png;base64,' in report
    text = html.unescape(report)
    assert all(sentence.split(":")[0][:40] in text for sentence in metrics["verdict"])
    assert (out / "runs" / "dpo" / "beta=0.1" / "seed-0" / "model" / "model.safetensors").is_file()
    assert list((out / "runs" / "ppo" / "default" / "seed-0" / "logs").rglob("events.out.tfevents*"))


TINY_METHODS = """
methods:
  - method: dpo
  - method: grpo
    overrides: {reward_source: gold}
  - method: best-of-n
    sweep: {n: [2]}
"""


def run_compare(config: Path, out: Path, *extra: str) -> dict:
    command = [sys.executable, "-m", "alignlab", "compare", str(config), "--out", str(out), *extra]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, embedded_dir) -> tuple[Path, dict]:
    """A three-method comparison at one torch thread: (its config, its metrics)."""
    root = tmp_path_factory.mktemp("tiny")
    config = root / "tiny.yaml"
    smoke = Path(SMOKE).read_text(encoding="utf-8")
    config.write_text(smoke.split("methods:")[0] + "threads: 1\n" + TINY_METHODS, encoding="utf-8")
    return config, run_compare(config, root / "serial")


def _results(metrics: dict, strip_timing) -> list[dict]:
    return sorted(strip_timing(metrics)["results"], key=lambda r: (r["method"], str(r["params"])))


@pytest.mark.slow
def test_same_seed_gives_identical_metrics(tiny, tmp_path, strip_timing) -> None:
    config, first = tiny
    second = run_compare(config, tmp_path / "again")
    first, second = strip_timing(first), strip_timing(second)
    first.pop("verdict"), second.pop("verdict")  # its sentences quote timings
    assert first == second


@pytest.mark.slow
def test_ray_launcher_gives_the_serial_records(tiny, tmp_path, strip_timing) -> None:
    """The same comparison dispatched as Ray tasks (one CPU and one torch thread each) gives the
    records of the serial launcher at one thread: each run's numbers depend only on its seed."""
    config, serial = tiny
    ray = run_compare(config, tmp_path / "ray", "--launcher", "ray", "--max-parallel", "2", "--cpus-per-run", "1")
    serial, ray = _results(serial, strip_timing), _results(ray, strip_timing)
    assert [r["method"] for r in serial] == [r["method"] for r in ray]
    for a, b in zip(serial, ray):
        assert a["gold_reward"] == pytest.approx(b["gold_reward"], abs=1e-6), a["method"]
        assert a["kl"] == pytest.approx(b["kl"], abs=1e-6), a["method"]
