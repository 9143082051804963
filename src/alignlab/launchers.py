"""Where the runs of a comparison go: one after another in this process (``serial``), or as Ray
tasks over a local or remote cluster (``ray``), each with its CPUs (and torch threads) and GPUs.
With ``workers_per_run`` > 1 on Ray, a run that trains is a Ray Train job of that many processes,
data-parallel as under torchrun (global batch sizes, so the same optimisation as one process).
A launcher only places runs; the comparison decides what runs when (``comparison.py``).

Whatever the launcher, every run is ``Experiment.run_one`` on the shared run directory, so
records are the same whichever launcher made them (at equal torch threads: float results depend
on the thread count; several processes sum in another order, to about 1e-5), and a run whose
processes were killed resumes from its checkpoints on the next attempt.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from alignlab import distributed
from alignlab.config import METHODS, ExperimentConfig, from_dict, to_dict
from alignlab.errors import AlignlabError
from alignlab.experiment import Experiment, RunSpec, run_config, trains
from alignlab.files import read_json
from alignlab.layout import ComparisonDir, run_key
from alignlab.log import logger, setup_logging
from alignlab.optim import micro_batches
from alignlab.trainers.online import check_online_config


@dataclass(frozen=True)
class Launcher:
    """Where runs go. On Ray each run has ``cpus_per_run`` CPUs (and torch threads) per process
    and ``gpus_per_run`` GPUs in all, shared by its ``workers_per_run`` processes."""

    kind: str = "serial"
    address: str | None = None
    max_parallel: int = 0
    cpus_per_run: int = 1
    gpus_per_run: float = 0.0
    workers_per_run: int = 1

    def __post_init__(self) -> None:
        workers = self.workers_per_run
        if workers < 1:
            raise AlignlabError(f"--workers-per-run must be at least 1, got {workers}")
        if workers > 1 and self.kind != "ray":
            raise AlignlabError(
                f"--workers-per-run {workers} needs --launcher ray (the {self.kind} launcher runs one process)"
            )
        if 0 < self.gpus_per_run < workers:
            raise AlignlabError(
                f"--gpus-per-run {self.gpus_per_run:g} is fewer than --workers-per-run {workers}: "
                "each process of a run needs a GPU of its own (NCCL)"
            )

    def check_splits(self, config: ExperimentConfig, runs: list[RunSpec]) -> None:
        """Refuse, before any stage runs, a run whose batches do not split over this launcher's
        ``workers_per_run`` processes: the trainers' own checks, made early, where a Ray Train job
        would meet them only after the shared stages, inside its workers."""
        if self.workers_per_run == 1:
            return
        for run in [r for r in runs if trains(r.method)]:
            cfg, method = run_config(config, run), METHODS[run.method]
            section = getattr(cfg, method.section)
            if method.online:
                check_online_config(
                    run.method, section, cfg.generation, self.workers_per_run, method.samples_per_prompt(cfg)
                )
            else:
                micro_batches(section.batch_size, section, self.workers_per_run, run.method)


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


def _worker_experiment(config_dict: dict[str, Any], run_dir: str, threads: int) -> Experiment:
    """A Ray worker's own Experiment on the shared run directory, at ``threads`` torch threads."""
    setup_logging()
    config = from_dict(ExperimentConfig, config_dict, "the comparison's config")
    set_threads(config, threads)
    return Experiment(config, ComparisonDir(Path(run_dir)))


def _remote_run(config_dict: dict[str, Any], run_dir: str, run: RunSpec, threads: int) -> dict[str, Any]:
    """One run inside a Ray task: one process."""
    return _worker_experiment(config_dict, run_dir, threads).run_one(run)


def _train_worker(job: dict[str, Any]) -> None:
    """One process of a Ray Train run (Ray Train made the process group and set RANK,
    WORLD_SIZE, MASTER_ADDR..., which accelerate reads): all train together, then the main
    process alone evaluates and writes the record."""
    from ray.train.torch import get_device

    if torch.cuda.is_available():
        # Ray Train shows all of a node's GPUs to each of its workers: without this every
        # process would evaluate and load its reference on the first one.
        torch.cuda.set_device(get_device())
    experiment = _worker_experiment(job["config"], job["run_dir"], job["threads"])
    if distributed.rank() == 0:
        experiment.run_one(job["run"])
    else:
        experiment.train_share(job["run"])


def _ray_train_run(config_dict: dict[str, Any], run_dir: str, run: RunSpec, launcher: Launcher) -> dict[str, Any]:
    """One run as a Ray Train job of ``launcher.workers_per_run`` processes (waits for it);
    the record its main process wrote."""
    from ray.train import LoggingConfig, RunConfig, ScalingConfig, WorkerGroupError
    from ray.train.torch import TorchConfig, TorchTrainer

    directory = ComparisonDir(Path(run_dir))
    workers, gpus = launcher.workers_per_run, launcher.gpus_per_run
    resources = {"CPU": launcher.cpus_per_run, **({"GPU": gpus / workers} if gpus else {})}
    key = run_key(run.method, dict(run.params), run.seed, run.split)
    trainer = TorchTrainer(
        _train_worker,
        train_loop_config={"config": config_dict, "run_dir": run_dir, "run": run, "threads": launcher.cpus_per_run},
        torch_config=TorchConfig(backend="nccl" if gpus else "gloo"),
        scaling_config=ScalingConfig(num_workers=workers, use_gpu=gpus > 0, resources_per_worker=resources),
        # alignlab checkpoints the run itself: Ray Train's storage only holds its markers, next
        # to the runs (on the storage a cluster's nodes share).
        run_config=RunConfig(
            name=key.replace("/", "-"),
            storage_path=str(directory.ray_train),
            logging_config=LoggingConfig(log_level="WARNING"),
        ),
    )
    try:
        trainer.fit()
    except WorkerGroupError as err:
        # A refusal (a batch that does not split over the processes...) reads as in one process.
        refusals = [error for _, error in sorted(err.worker_failures.items()) if isinstance(error, AlignlabError)]
        if refusals:
            raise refusals[0] from None
        raise
    return read_json(directory.run(run.method, dict(run.params), run.seed, run.split).eval)


def _ray_submitter(ray: Any, experiment: Experiment, launcher: Launcher) -> Callable[[RunSpec], Any]:
    """A function that sends one run to Ray and returns the reference of its record: a task of
    one process, or (``workers_per_run`` > 1, a method that trains) a task driving a Ray Train
    job; best-of-n trains nothing and has one process's share of the resources."""
    # The shared stages may have changed the config (an SFT model as the base): send it as it is now.
    config_dict = to_dict(experiment.config)
    # Absolute: a relative one would depend on each worker's directory.
    run_dir = str(experiment.dir.path.resolve())
    workers = launcher.workers_per_run
    one_process = ray.remote(num_cpus=launcher.cpus_per_run, num_gpus=launcher.gpus_per_run / workers)(_remote_run)
    # The driving task only waits: no resources of its own. Ray Train would move its workers to a
    # directory of their own, and relative paths in the config must keep their meaning.
    several = ray.remote(num_cpus=0, runtime_env={"env_vars": {"RAY_CHDIR_TO_TRIAL_DIR": "0"}})(_ray_train_run)

    def submit(run: RunSpec) -> Any:
        if workers > 1 and trains(run.method):
            return several.remote(config_dict, run_dir, run, launcher)
        return one_process.remote(config_dict, run_dir, run, launcher.cpus_per_run)

    return submit


def _record(ray: Any, ref: Any) -> dict[str, Any]:
    """The record of a finished run; its refusal (an AlignlabError) as it is, without Ray's
    wrapping, so that the command line shows its message alone."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as err:
        if isinstance(err.cause, AlignlabError):
            raise err.cause from None
        raise


def run_on_ray(experiment: Experiment, runs: list[RunSpec], launcher: Launcher, done: RunDone) -> list[dict[str, Any]]:
    """Every run on Ray (at most ``max_parallel`` at a time); the records in run order."""
    try:
        import ray
    except ImportError:
        raise AlignlabError("--launcher ray needs Ray: pip install 'alignlab[ray]'") from None
    if not ray.is_initialized():
        ray.init(address=launcher.address, include_dashboard=False, log_to_driver=False)
    submit = _ray_submitter(ray, experiment, launcher)
    pending, finished = list(runs), {}
    in_flight: dict[Any, RunSpec] = {}
    limit = launcher.max_parallel or len(runs)
    while pending or in_flight:
        while pending and len(in_flight) < limit:
            run = pending.pop(0)
            in_flight[submit(run)] = run
        ready, _ = ray.wait(list(in_flight), num_returns=1)
        for ref in ready:
            run = in_flight.pop(ref)
            finished[run] = _record(ray, ref)
            done(run, finished[run])
    return [finished[run] for run in runs]


def place(experiment: Experiment, runs: list[RunSpec], launcher: Launcher, done: RunDone) -> list[dict[str, Any]]:
    """Every run of ``runs`` where ``launcher`` says, calling ``done(run, record)`` as each
    finishes; their records in run order."""
    if launcher.kind == "ray":
        return run_on_ray(experiment, runs, launcher, done)
    return run_serial(experiment, runs, done)
