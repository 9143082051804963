"""The whole comparison, end to end on the smoke preset: every method gives finite numbers, the
report embeds the frontier, and the same seed gives identical metrics; on Ray, the records of the
serial launcher, shared stages made once, and a killed run resumed to its uninterrupted record."""

from __future__ import annotations

import html
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from alignlab.config.methods import COMPARED
from alignlab.experiment import RunSpec
from alignlab.layout import ComparisonDir
from tests.killing import train_until

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


def run_path(root: Path, run: RunSpec) -> Path:
    """The directory of ``run`` in the comparison at ``root``."""
    return ComparisonDir(root).run(run.method, dict(run.params), run.seed).path


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
    assert methods == {"base"} | set(COMPARED)
    for record in metrics["results"]:
        for key in NUMBERS:
            assert isinstance(record[key], float) and math.isfinite(record[key]), (record["method"], key)
        assert record["kl"] >= 0
        trained = record["method"] not in ("base", "best-of-n")
        assert (record.get("train_flops") or 0) > 0 if trained else record.get("train_flops") is None
    for run_dir, samples in metrics["examples"].items():
        record = next(r for r in metrics["results"] if r["run_dir"] == run_dir)
        k = len(record["sample_gold"]) // 16  # smoke: 16 held-out prompts
        assert [s["gold"] for s in samples] == record["sample_gold"][::k][: len(samples)]
    report = (out / "report.html").read_text(encoding="utf-8")
    assert "Reward–KL frontier" in report and 'src="data:image/png;base64,' in report
    text = html.unescape(report)
    # Every method of the registry is in the smoke preset (the set above) and in its report's table.
    results_table = report.split("<h2 id='results'>Results</h2>")[1].split("</table>")[0]
    assert all(f"<strong>{html.escape(method)}</strong>" in results_table for method in COMPARED)
    assert all(sentence.split(":")[0][:40] in text for sentence in metrics["verdict"])
    assert (out / "runs" / "dpo" / "beta=0.1" / "seed-0" / "model" / "model.safetensors").is_file()
    assert list((out / "runs" / "ppo" / "default" / "seed-0" / "logs").rglob("events.out.tfevents*"))


# Two methods x two seeds: DPO reads the shared reference log-probs, GRPO each seed's reward
# model; GRPO trains two iterations and checkpoints after each, so a run can be killed half-way
# with a checkpoint.
TWO_BY_TWO = """
seeds: [0, 1]
threads: 1
methods:
  - method: dpo
  - method: grpo
    overrides: {checkpoint_every: 1}
"""
KILLED = RunSpec("grpo", (), 1)
# The tests of the two-by-two comparison run on one pytest-xdist worker, which builds it once.
TWO_BY_TWO_WORKER = pytest.mark.xdist_group("two-by-two")


def run_compare(config: Path, out: Path, *extra: str) -> dict:
    command = [sys.executable, "-m", "alignlab", "compare", str(config), "--out", str(out), *extra]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads((out / "metrics.json").read_text())


@pytest.fixture(scope="module")
def serial(tmp_path_factory, embedded_dir) -> tuple[Path, dict]:
    """The two-by-two comparison of the smoke preset, serial, at one torch thread: (its run
    directory, its metrics)."""
    root = tmp_path_factory.mktemp("two-by-two")
    config = root / "two-by-two.yaml"
    smoke = Path(SMOKE).read_text(encoding="utf-8").split("methods:")[0].replace("seeds: [0]\n", "")
    # Twice the smoke budget: two GRPO iterations, so that a run can be killed after the first.
    assert "budget:\n  sequences: 64\n" in smoke
    smoke = smoke.replace("budget:\n  sequences: 64\n", "budget:\n  sequences: 128\n")
    config.write_text(smoke + TWO_BY_TWO, encoding="utf-8")
    return root / "serial", run_compare(config, root / "serial")


def kill_after_first_iteration(serial_dir: Path, run: RunSpec, workdir: Path) -> Path:
    """``run`` trained on a copy of the serial comparison's shared stages until the end of its
    first iteration (its first checkpoint), then stopped as a killed task would be; its directory."""
    from alignlab.trainers.online import OnlineRun

    workdir.mkdir(parents=True)
    for name in ("config.yaml", "stages.json", "preferences.jsonl", "reward_model"):
        copy = shutil.copytree if (serial_dir / name).is_dir() else shutil.copy2
        copy(serial_dir / name, workdir / name)
    return train_until(workdir, run, OnlineRun, "end_iteration").path


def mtimes(paths) -> dict[Path, int]:
    return {p: p.stat().st_mtime_ns for p in paths}


@pytest.fixture(scope="module")
def on_ray(serial, tmp_path_factory) -> dict:
    """The same comparison resumed on a local Ray (2 CPUs; 2 runs at a time, one CPU and one torch
    thread each) from a directory that holds its config and one run killed after its first
    checkpoint (a checkpoint and a snapshot, no eval.json): the one launch makes the shared
    stages, trains three runs and finishes the killed one. What it left, and when."""
    serial_dir, _ = serial
    root = tmp_path_factory.mktemp("ray")
    killed = kill_after_first_iteration(serial_dir, KILLED, root / "killed")
    assert (killed / "checkpoints" / "latest").is_file() and not (killed / "eval.json").exists()
    out = root / "run"
    shutil.copytree(killed, run_path(out, KILLED))
    shutil.copy2(serial_dir / "config.yaml", out / "config.yaml")
    before = mtimes(run_path(out, KILLED).rglob("snapshots/**/*.safetensors"))
    assert before
    metrics = run_compare(
        out / "config.yaml", out, "--resume", "--launcher", "ray", "--max-parallel", "2", "--cpus-per-run", "1"
    )
    return {"out": out, "metrics": metrics, "snapshots_before": before}


def _results(metrics: dict, strip_timing) -> list[dict]:
    return sorted(strip_timing(metrics)["results"], key=lambda r: (r["method"], r["seed"], str(r["params"])))


@TWO_BY_TWO_WORKER
@pytest.mark.slow
def test_same_seed_gives_identical_metrics(serial, on_ray, strip_timing) -> None:
    """A second comparison of the same config and seeds (on Ray, resumed) gives the whole
    metrics.json of the first: records, aggregates, tests, stage costs but timings."""
    first, second = strip_timing(serial[1]), strip_timing(on_ray["metrics"])
    first.pop("verdict"), second.pop("verdict")  # its sentences quote timings
    assert first == second


@TWO_BY_TWO_WORKER
@pytest.mark.slow
def test_ray_launcher_gives_the_serial_records(serial, on_ray, strip_timing) -> None:
    """Dispatched as Ray tasks, every run's record equals the serial launcher's at the same torch
    threads: a run's numbers depend only on its seed."""
    serial_records, ray_records = _results(serial[1], strip_timing), _results(on_ray["metrics"], strip_timing)
    assert [(r["method"], r["seed"]) for r in ray_records] == [(m, s) for m in ("base", "dpo", "grpo") for s in (0, 1)]
    assert ray_records == serial_records


@TWO_BY_TWO_WORKER
@pytest.mark.slow
def test_ray_workers_share_the_stages_made_once(on_ray) -> None:
    """The driver makes each seed's reward model and the DPO reference log-probs once, before any
    task: no worker re-trains or recomputes them (nothing of theirs is written after a run starts)."""
    out = on_ray["out"]
    stages = json.loads((out / "stages.json").read_text())
    assert set(stages) == {"preferences", "reference_logps", "reward_model/seed-0", "reward_model/seed-1"}
    shared = [out / "reference_logps.safetensors", out / "preferences.jsonl", out / "stages.json"]
    shared += list((out / "reward_model").rglob("*"))
    assert len(list((out / "reward_model").glob("seed-*/summary.json"))) == 2
    runs = [run_path(out, run) for run in (RunSpec(m, (), s) for m in ("dpo", "grpo") for s in (0, 1))]
    # Every run's task (re)writes its config.yaml when it starts.
    assert max(mtimes(p for p in shared if p.is_file()).values()) < min(
        mtimes(r / "config.yaml" for r in runs).values()
    )
    assert not any((r / "reference_logps.safetensors").exists() for r in runs)


@TWO_BY_TWO_WORKER
@pytest.mark.slow
def test_killed_run_resumes_to_the_serial_record(serial, on_ray, strip_timing) -> None:
    """The run killed after its first checkpoint continued from it (its snapshot of that point was
    not trained again) to the record and training curves of the uninterrupted serial run."""
    serial_dir, _ = serial
    out = on_ray["out"]
    assert mtimes(on_ray["snapshots_before"]) == on_ray["snapshots_before"]
    resumed = json.loads((run_path(out, KILLED) / "eval.json").read_text())
    uninterrupted = json.loads((run_path(serial_dir, KILLED) / "eval.json").read_text())
    assert strip_timing(resumed) == strip_timing(uninterrupted)
    histories = [json.loads((run_path(d, KILLED) / "history.json").read_text()) for d in (out, serial_dir)]
    assert strip_timing(histories[0]) == strip_timing(histories[1])


@TWO_BY_TWO_WORKER
@pytest.mark.slow
def test_the_python_api_gives_a_table_with_one_row_per_run(serial, tmp_path) -> None:
    """``alignlab.compare`` on a finished comparison (resumed: nothing left to train) returns its
    records as a DataFrame, one row per method, setting and seed, and draws the frontier; its
    total time is that of both sittings."""
    import alignlab

    serial_dir, metrics = serial
    out = tmp_path / "again"
    shutil.copytree(serial_dir, out)
    results = alignlab.compare(out / "config.yaml", out=out, resume=True)
    first, again = json.loads((out / "sittings.json").read_text())
    assert first["time_s"] == pytest.approx(metrics["total_time_s"]) and metrics["sittings"] == 1
    assert results.metrics["sittings"] == 2
    assert results.metrics["total_time_s"] == pytest.approx(first["time_s"] + again["time_s"])
    assert "over 2 sittings" in results.report_path.read_text(encoding="utf-8")
    table = results.table
    assert sorted(zip(table["method"], table["seed"])) == [(m, s) for m in ("base", "dpo", "grpo") for s in (0, 1)]
    assert set(table["setting"]) == {"default"}
    by_run = {(r["method"], r["seed"]): r["gold_reward"] for r in metrics["results"]}
    assert {(m, s): g for m, s, g in zip(table["method"], table["seed"], table["gold_reward"])} == by_run
    assert results.report_path.is_file() and results.plot_frontier().axes
    assert alignlab.Results.load(out).metrics == results.metrics
    with pytest.raises(FileNotFoundError, match="no metrics.json"):
        alignlab.Results.load(tmp_path)
