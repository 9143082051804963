"""Scaling past one process: DPO pairs/s and PPO tokens/s at 1 and 2 processes, and a comparison's wall time serial vs on Ray.

Both ways of using more than one process on one machine, each against its one-process baseline:

- data parallelism (one run over 2 processes, ``torchrun --standalone --nproc_per_node 2``; gloo
  on a CPU, NCCL on GPUs): ``alignlab train dpo`` and ``alignlab train ppo-gt`` at 1 and 2
  processes with the same global batch, so both do the same optimisation;
- run parallelism (whole runs side by side): the smoke comparison (``configs/smoke.yaml``) with
  the serial launcher and with ``--launcher ray --max-parallel 2`` on a local Ray.

Threads are chosen explicitly, never left to the libraries: the machine's cores (``--cores``,
default the cores this process may use) are split evenly among the processes that compute at
once. With 2 cores: 1 process runs 2 torch threads and each of 2 processes 1 thread
(``OMP_NUM_THREADS``); the serial comparison runs at ``threads=2`` and the Ray one 2 runs at a time
at 1 thread each (``--cpus-per-run 1``, ``threads=0`` so that a run takes its CPUs' count).

What is timed:

- ``dpo_pairs_per_s_N``: pairs trained / the training loop's own time (the summary's
  ``cost.wall_time_s``: optimizer steps only, not start-up or the reference log-prob pass), on
  the same pairs (sampled once from the base policy and given with ``--data``), global batch
  ``--dpo-batch-size``, ``--dpo-steps`` optimizer steps;
- ``ppo_tokens_per_s_N``: PPO on the gold reward (no reward model to train or load), the
  summary's trained tokens per second (prompt and response tokens through a forward with
  gradient, over all processes: ``trainers/costs.py``) over whole iterations: sampling, scoring,
  update epochs;
- ``sweep_serial_s`` / ``sweep_ray_s``: wall time of the whole ``alignlab compare`` process
  (start-up, shared stages, every run, evaluation, report) on the smoke preset;
- ratios: ``*_speedup_2_vs_1`` (2 processes over 1, higher is better) and
  ``sweep_speedup_ray_vs_serial`` (serial time over Ray time).

Every measurement is a fresh process (group), one at a time: run it on an otherwise idle machine.

    python benchmarks/scaling.py [--json out.json] [--dpo-steps 8] [--ppo-iterations 2] [--parts dpo,ppo,sweep]
    python benchmarks/scaling.py --quick     # tiny settings: checks that it runs, measures nothing
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _common import parser, report

from alignlab.config import load_config
from alignlab.data import write_preferences
from alignlab.pipeline import sample_preferences
from alignlab.tasks import load_task

REPO = Path(__file__).resolve().parents[1]
DEFAULT = REPO / "configs" / "default.yaml"
SMOKE = REPO / "configs" / "smoke.yaml"
TORCHRUN = [sys.executable, "-m", "torch.distributed.run", "--standalone"]


def environment(threads: int) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": str(threads), "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def run(command: list[str], threads: int) -> float:
    """Run ``command`` with ``threads`` torch threads per process; its wall time (s)."""
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=environment(threads))
    if done.returncode != 0:
        sys.exit(f"failed: {' '.join(command)}\n{done.stderr[-4000:]}")
    return time.perf_counter() - started


def train(method: str, settings: list[str], processes: int, cores: int, out: Path, data: Path | None = None) -> dict:
    """``alignlab train method`` on ``processes`` processes of ``cores // processes`` threads; its summary."""
    launcher = [sys.executable] if processes == 1 else [*TORCHRUN, "--nproc_per_node", str(processes)]
    command = [*launcher, "-m", "alignlab", "train", method, "--config", str(DEFAULT), "--out", str(out)]
    command += ["--data", str(data)] if data is not None else []
    for setting in settings:
        command += ["--set", setting]
    run(command, max(cores // processes, 1))
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    if summary["processes"] != processes:
        sys.exit(f"{method}: asked for {processes} processes, {summary['processes']} ran")
    return summary


def sweep_config(methods: list[str] | None, seeds: int | None, workdir: Path) -> Path:
    """The smoke preset, with only ``methods`` and ``seeds`` seeds when given."""
    preset = yaml.safe_load(SMOKE.read_text(encoding="utf-8"))
    if methods:
        preset["methods"] = [spec for spec in preset["methods"] if spec["method"] in methods]
        missing = set(methods) - {spec["method"] for spec in preset["methods"]}
        if missing:
            sys.exit(f"--sweep-methods: not in the smoke preset: {', '.join(sorted(missing))}")
    if seeds:
        preset["seeds"] = list(range(seeds))
    path = workdir / "sweep.yaml"
    path.write_text(yaml.safe_dump(preset, sort_keys=False), encoding="utf-8")
    return path


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--cores", type=int, default=len(os.sched_getaffinity(0)), help="Cores to split among processes.")
    p.add_argument("--parts", default="dpo,ppo,sweep", help="Which measurements: any of dpo, ppo, sweep.")
    p.add_argument("--dpo-batch-size", type=int, default=32, help="Global DPO batch (pairs per optimizer step).")
    p.add_argument("--dpo-steps", type=int, default=8)
    p.add_argument("--pair-prompts", type=int, default=128, help="Training prompts to sample the DPO pairs from.")
    p.add_argument("--ppo-iterations", type=int, default=2)
    p.add_argument("--ppo-prompts", type=int, default=32, help="Prompts per PPO iteration (even).")
    p.add_argument("--ppo-batch-size", type=int, default=16, help="Global PPO minibatch (even).")
    p.add_argument("--sweep-methods", default="", help="Comma-separated methods of the smoke preset (default: all).")
    p.add_argument("--sweep-seeds", type=int, default=0, help="Seeds of the sweep (default: the preset's).")
    p.add_argument("--quick", action="store_true", help="Tiny settings everywhere, to check that it runs.")
    args = p.parse_args()
    if args.quick:
        args.dpo_batch_size, args.dpo_steps, args.pair_prompts = 8, 2, 16
        args.ppo_iterations, args.ppo_prompts, args.ppo_batch_size = 1, 4, 4
        args.sweep_methods, args.sweep_seeds = args.sweep_methods or "dpo,grpo", args.sweep_seeds or 1
    parts = set(args.parts.split(","))
    cores = args.cores
    model = f"model.name_or_path={args.model}"
    figures: dict[str, float | int | str] = {"cores": cores, "threads_1_process": cores}
    figures["threads_per_process_2"] = max(cores // 2, 1)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        if "dpo" in parts:
            config = load_config(DEFAULT, [model, f"task.num_train_prompts={args.pair_prompts}"])
            pairs = sample_preferences(config, load_task(config.task))
            if len(pairs) < args.dpo_batch_size:
                sys.exit(f"{len(pairs)} pairs from {args.pair_prompts} prompts: fewer than one batch")
            data = workdir / "pairs.jsonl"
            write_preferences(data, pairs)
            settings = [model, f"dpo.batch_size={args.dpo_batch_size}", f"dpo.max_steps={args.dpo_steps}"]
            settings += ["dpo.epochs=1000", "dpo.eval_fraction=0", "evaluation.checkpoints=1"]
            for n in (1, 2):
                summary = train("dpo", settings, n, cores, workdir / f"dpo-{n}", data)
                pairs_trained = summary["steps"] * args.dpo_batch_size
                figures[f"dpo_pairs_per_s_{n}"] = pairs_trained / summary["cost"]["wall_time_s"]
            figures["dpo_speedup_2_vs_1"] = figures["dpo_pairs_per_s_2"] / figures["dpo_pairs_per_s_1"]
        if "ppo" in parts:
            settings = [
                model,
                f"ppo.iterations={args.ppo_iterations}",
                f"ppo.prompts_per_iteration={args.ppo_prompts}",
                f"ppo.batch_size={args.ppo_batch_size}",
                "evaluation.checkpoints=1",
            ]
            for n in (1, 2):
                summary = train("ppo-gt", settings, n, cores, workdir / f"ppo-{n}")
                figures[f"ppo_tokens_per_s_{n}"] = summary["cost"]["tokens_per_s"]
            figures["ppo_speedup_2_vs_1"] = figures["ppo_tokens_per_s_2"] / figures["ppo_tokens_per_s_1"]
        if "sweep" in parts:
            methods = [m for m in args.sweep_methods.split(",") if m]
            config = sweep_config(methods, args.sweep_seeds, workdir)
            compare = [sys.executable, "-m", "alignlab", "compare", str(config)]
            figures["sweep_serial_s"] = run(
                [*compare, "--out", str(workdir / "serial"), "--set", f"threads={cores}"], cores
            )
            ray = ["--launcher", "ray", "--max-parallel", "2", "--cpus-per-run", str(max(cores // 2, 1))]
            figures["sweep_ray_s"] = run([*compare, "--out", str(workdir / "ray"), "--set", "threads=0", *ray], cores)
            figures["sweep_speedup_ray_vs_serial"] = figures["sweep_serial_s"] / figures["sweep_ray_s"]
    report(figures, args.json)


if __name__ == "__main__":
    main()
