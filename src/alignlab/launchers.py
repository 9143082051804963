"""Where the runs of a comparison go: one after another in this process (``serial``), or as Ray
tasks over a local or remote cluster (``ray``), each with its CPUs (and torch threads) and GPUs.
A launcher only places runs; the comparison decides what runs when (``comparison.py``).

Either way every run is ``Experiment.run_one`` on the shared run directory, so records are the
same whichever launcher made them (at equal torch threads: float results depend on the thread
count), and a run whose process was killed resumes from its checkpoints on the next attempt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from alignlab.config import ExperimentConfig, from_dict, to_dict
from alignlab.errors import AlignlabError
from alignlab.experiment import Experiment, RunSpec
from alignlab.layout import ComparisonDir
from alignlab.log import logger, setup_logging


@dataclass(frozen=True)
class Launcher:
    kind: str = "serial"
    address: str | None = None
    max_parallel: int = 0
    cpus_per_run: int = 1
    gpus_per_run: float = 0.0


def set_threads(config: ExperimentConfig, default: int | None = None) -> None:
    """torch's thread count for this process: ``config.threads``, else ``default``, else torch's."""
    threads = config.threads or default
    if threads:
        torch.set_num_threads(threads)


RunDone = Callable[[RunSpec, dict[str, Any]], None]


def run_serial(experiment: Experiment, runs: list[RunSpec], done: RunDone) -> list[dict[str, Any]]:
    records = []
    for run in runs:
        logger.info("%s %s seed %d", run.method, run.setting, run.seed)
        record = experiment.run_one(run)
        records.append(record)
        done(run, record)
    return records


def _remote_run(config_dict: dict[str, Any], run_dir: str, run: RunSpec, threads: int) -> dict[str, Any]:
    """One run inside a Ray worker: its own Experiment on the shared run directory."""
    setup_logging()
    config = from_dict(ExperimentConfig, config_dict, "the comparison's config")
    set_threads(config, threads)
    return Experiment(config, ComparisonDir(Path(run_dir))).run_one(run)


def run_on_ray(experiment: Experiment, runs: list[RunSpec], launcher: Launcher, done: RunDone) -> list[dict[str, Any]]:
    """Every run as a Ray task (at most ``max_parallel`` at a time); the records in run order."""
    try:
        import ray
    except ImportError:
        raise AlignlabError("--launcher ray needs Ray: pip install 'alignlab[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=launcher.address, include_dashboard=False, log_to_driver=False)
    remote = ray.remote(num_cpus=launcher.cpus_per_run, num_gpus=launcher.gpus_per_run)(_remote_run)
    # The shared stages may have changed the config (an SFT model as the base): send it as it is now.
    config_dict = to_dict(experiment.config)
    pending, finished = list(runs), {}
    in_flight: dict[Any, RunSpec] = {}
    limit = launcher.max_parallel or len(runs)
    while pending or in_flight:
        while pending and len(in_flight) < limit:
            run = pending.pop(0)
            in_flight[remote.remote(config_dict, str(experiment.dir.path), run, launcher.cpus_per_run)] = run
        ready, _ = ray.wait(list(in_flight), num_returns=1)
        for ref in ready:
            run = in_flight.pop(ref)
            finished[run] = ray.get(ref)
            done(run, finished[run])
    return [finished[run] for run in runs]


def place(experiment: Experiment, runs: list[RunSpec], launcher: Launcher, done: RunDone) -> list[dict[str, Any]]:
    """Every run of ``runs`` where ``launcher`` says, calling ``done(run, record)`` as each
    finishes; their records in run order."""
    if launcher.kind == "ray":
        return run_on_ray(experiment, runs, launcher, done)
    return run_serial(experiment, runs, done)
