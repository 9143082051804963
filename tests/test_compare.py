"""The whole comparison, end to end on the smoke preset: every method gives finite numbers, the
report embeds the frontier, and the same seed gives identical metrics."""

from __future__ import annotations

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
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Reward–KL frontier" in html and 'src="data:image/png;base64,' in html
    assert all(sentence.split(":")[0][:40] in html for sentence in metrics["verdict"])
    assert (out / "runs" / "dpo" / "beta=0.1" / "seed-0" / "model" / "model.safetensors").is_file()
    assert list((out / "runs" / "ppo" / "default" / "seed-0" / "logs").rglob("events.out.tfevents*"))


@pytest.mark.slow
def test_same_seed_gives_identical_metrics(smoke_run, tmp_path, strip_timing) -> None:
    _, first = smoke_run
    second = compare(tmp_path / "again")
    first, second = strip_timing(first), strip_timing(second)
    first.pop("verdict"), second.pop("verdict")  # its sentences quote timings
    assert first == second
