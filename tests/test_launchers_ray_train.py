"""Runs of several processes placed by Ray Train (``--workers-per-run``): two CPU workers (gloo,
one torch thread each) finish a DPO run of the smoke preset killed after its first step, to the
final weights, per-step metrics and record of the serial launcher's single process, to 1e-5; the
combinations that cannot work are refused before anything runs. (The online trainers' exactness
over two processes is tested under torchrun, tests/test_distributed.py: Ray Train only starts the
processes and their group.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file

from alignlab.errors import AlignlabError
from alignlab.experiment import RunSpec
from alignlab.files import read_json
from alignlab.launchers import Launcher, _ray_train_run
from alignlab.layout import ComparisonDir
from tests.killing import train_until

# Built once, on one pytest-xdist worker: the serial and the Ray Train comparisons the tests share.
pytestmark = pytest.mark.xdist_group("ray-train")

REPO = Path(__file__).resolve().parents[1]
SMOKE = REPO / "configs" / "smoke.yaml"
# One DPO run of two steps, checkpointed after each, at one torch thread: float results depend
# on the thread count.
METHODS = """threads: 1
methods:
  - method: dpo
    overrides: {checkpoint_every: 1}
"""
KILLED = RunSpec("dpo", (), 0)
SHARED = ("config.yaml", "preferences.jsonl", "stages.json", "reference_logps.safetensors")
# float32 sums in another order (per process, then all-reduced) differ in the last bits.
TOLERANCE = 1e-5


def compare(*arguments: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "alignlab", "compare", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


def kill_after_first_checkpoint(out: Path) -> dict[Path, int]:
    """The DPO run trained in this process, as the serial comparison trains it, until its first
    checkpoint (after its first step and snapshot), then stopped as a killed process would be
    (in a copy of the serial comparison's shared stages at ``out``); the modification times of
    its snapshot."""
    from alignlab.trainers.checkpoints import Checkpointer

    run = train_until(out, KILLED, Checkpointer, "save")
    assert (run.checkpoints / "latest").is_file() and not run.trained
    return {p: p.stat().st_mtime_ns for p in (run.path / "snapshots").rglob("*.safetensors")}


@pytest.fixture(scope="module")
def comparisons(tmp_path_factory, embedded_dir) -> dict:
    """The comparison serially; then, from its shared stages and a DPO run killed after its
    first step, resumed on a local Ray with two processes per run: both directories, and the
    killed run's snapshot before the resumption."""
    root = tmp_path_factory.mktemp("ray-train")
    config = root / "config.yaml"
    config.write_text(SMOKE.read_text(encoding="utf-8").split("methods:")[0] + METHODS, encoding="utf-8")
    serial, on_ray = root / "serial", root / "ray-train"
    result = compare(str(config), "--out", str(serial))
    assert result.returncode == 0, result.stderr[-3000:]
    on_ray.mkdir()
    for name in SHARED:
        shutil.copy2(serial / name, on_ray / name)
    snapshot = kill_after_first_checkpoint(on_ray)
    assert snapshot
    result = compare(
        "--out", str(on_ray), "--resume", "--launcher", "ray", "--workers-per-run", "2", "--cpus-per-run", "1"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return {"serial": serial, "ray": on_ray, "snapshot": snapshot}


def _run(root: Path) -> tuple[dict, dict, dict, dict]:
    """(summary, history, final weights, record) of the DPO run."""
    run = ComparisonDir(root).run(KILLED.method, {}, KILLED.seed)
    weights = load_file(str(run.model / "model.safetensors"))
    return read_json(run.summary), read_json(run.history), weights, read_json(run.eval)


def _assert_close(a, b, where: str = "") -> None:
    """Equal structures whose floats agree to ``TOLERANCE``."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            _assert_close(a[key], b[key], f"{where}/{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_close(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        assert a == pytest.approx(b, rel=TOLERANCE, abs=TOLERANCE), where
    else:
        assert a == b, where


@pytest.mark.slow
def test_two_ray_train_workers_equal_one_process(comparisons, strip_timing) -> None:
    """The run's second step trained in two processes, as its summary says, to the weights,
    per-step metrics and held-out record of the serial single process."""
    serial, on_ray = comparisons["serial"], comparisons["ray"]
    summary1, history1, weights1, record1 = _run(serial)
    summary2, history2, weights2, record2 = _run(on_ray)
    assert (summary1["processes"], summary2["processes"]) == (1, 2)
    assert weights1.keys() == weights2.keys()
    assert max(float((weights1[k] - weights2[k]).abs().max()) for k in weights1) < TOLERANCE
    # DPO's accuracy counts signs of margins that start at exactly 0 (policy = reference): float
    # noise decides them.
    rows1, rows2 = (
        [{k: v for k, v in row.items() if "accuracy" not in k} for row in strip_timing(h["train"])]
        for h in (history1, history2)
    )
    assert len(rows1) == 2
    _assert_close(rows1, rows2, "history")
    _assert_close(strip_timing(record1), strip_timing(record2), "record")


@pytest.mark.slow
def test_killed_run_resumed_from_its_checkpoint(comparisons) -> None:
    """The killed DPO run continued from its checkpoint: the snapshot of its first step was not
    trained again."""
    snapshot = comparisons["snapshot"]
    assert {p: p.stat().st_mtime_ns for p in snapshot} == snapshot


@pytest.mark.slow
def test_ray_train_keeps_only_markers_beside_the_runs(comparisons) -> None:
    """alignlab checkpoints the runs itself: Ray Train's storage holds no checkpoint."""
    on_ray = comparisons["ray"]
    kept = [p for p in (on_ray / "ray_train").rglob("*") if p.is_file()]
    assert kept and all(p.name.startswith(".") for p in kept), kept


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            "dpo.batch_size=15",
            "error: dpo: batch_size 15 does not split evenly into grad_accum_steps=1 x 2 process(es)",
        ),
        (
            "grpo.grad_accum_steps=16",
            "error: grpo.batch_size: 16 does not split into grad_accum_steps=16 x 2 process(es)",
        ),
    ],
)
def test_batches_that_do_not_split_over_the_workers_are_refused_before_anything_runs(
    tmp_path, setting, message
) -> None:
    """The trainers' refusal, alone, with exit code 2 (as from one process), before the shared
    stages, Ray or the run directory."""
    config = tmp_path / "config.yaml"
    methods = "methods:\n  - method: dpo\n  - method: grpo\n"
    config.write_text(SMOKE.read_text(encoding="utf-8").split("methods:")[0] + methods, encoding="utf-8")
    arguments = ["--launcher", "ray", "--workers-per-run", "2", "--set", setting]
    result = compare(str(config), "--out", str(tmp_path / "run"), *arguments)
    assert result.returncode == 2, result.stderr[-3000:]
    assert message in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr and not (tmp_path / "run").exists()


def test_a_refusal_inside_the_workers_reads_as_in_one_process(tmp_path, monkeypatch) -> None:
    """A refusal met inside a Ray Train job (after tuning chose a setting the early check could
    not see) is raised as it is, not as Ray Train's report of its workers' failures; any other
    failure keeps that report."""
    import ray.train.torch
    from ray.train import WorkerGroupError

    refusal = AlignlabError("dpo: batch_size 15 does not split evenly")
    failures = {1: RuntimeError("gloo: peer closed"), 0: refusal}

    class FailingTrainer:
        def __init__(self, *args, **kwargs) -> None:
            pass

        def fit(self) -> None:
            raise WorkerGroupError("workers failed", failures)

    monkeypatch.setattr(ray.train.torch, "TorchTrainer", FailingTrainer)
    launcher = Launcher(kind="ray", workers_per_run=2)
    with pytest.raises(AlignlabError) as raised:
        _ray_train_run({}, str(tmp_path), KILLED, launcher)
    assert raised.value is refusal and raised.value.__suppress_context__
    failures.pop(0)
    with pytest.raises(WorkerGroupError):
        _ray_train_run({}, str(tmp_path), KILLED, launcher)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"kind": "serial", "workers_per_run": 2}, "--workers-per-run 2 needs --launcher ray"),
        ({"kind": "ray", "workers_per_run": 0}, "--workers-per-run must be at least 1"),
        ({"kind": "ray", "workers_per_run": 2, "gpus_per_run": 1}, "a GPU of its own"),
    ],
)
def test_launchers_that_cannot_run_are_refused(settings, message) -> None:
    with pytest.raises(AlignlabError, match=message):
        Launcher(**settings)
