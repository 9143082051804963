"""The experiment: every method over its sweep and seeds, evaluated on the same held-out prompts,
then ``metrics.json`` and ``report.html``.

A run directory holds everything::

    config.yaml            the experiment as run
    preferences.jsonl      the pairs every method learns from (sampled once from the base policy)
    reference_logps*.safetensors  the base policy's log-probs of those pairs (shared by DPO runs)
    reward_model/seed-S/   the Bradley-Terry reward model of seed S (PPO, GRPO, RLOO, best-of-n)
    runs/METHOD/SETTING/seed-S/
        model/             the trained policy (save_pretrained)
        logs/              TensorBoard (``tensorboard --logdir RUN_DIR`` shows every run)
        history.json       training curves
        summary.json       training cost and final training metrics
        eval.json          held-out metrics and sample completions
    stages.json            cost of the shared stages (preference sampling, reward models): wall_time_s
                           of the whole stage, peak_mem_mb, and for reward models the training
                           loop's own train_time_s, tokens_per_s, trainable_params
    metrics.json           every result as flat records, plus aggregates over seeds
    report.html            the report

Each finished piece is skipped by ``alignlab compare --resume RUN_DIR``; a half-trained run
continues from its last checkpoint.
"""

from __future__ import annotations

import ctypes
import gc
import json
import platform
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from rich.table import Table

from alignlab.config import ExperimentConfig, MethodSpec, load_config, method_config, save_config, with_settings
from alignlab.config.experiment import EXPERIMENT_CONTROLS
from alignlab.data import read_preferences, write_preferences
from alignlab.errors import AlignlabError
from alignlab.evaluation import (
    EvalSamples,
    best_of_n,
    best_of_n_kl,
    evaluate_samples,
    sample_for_eval,
)
from alignlab.files import write_json
from alignlab.log import console, logger
from alignlab.models import (
    count_parameters,
    load_causal_lm,
    load_reward_model,
    load_reward_normalization,
    load_tokenizer,
    load_trained_policy,
)
from alignlab.pipeline import device, sample_preferences
from alignlab.progress import progress_task
from alignlab.relevance import RelevanceScorer, relevance_scorer
from alignlab.scoring import sequence_scores
from alignlab.tasks import Task, load_task
from alignlab.tasks.preferences import flip_labels
from alignlab.trainers import section_of, train_method, uses_gold_reward, uses_reward_model
from alignlab.trainers.common import MODEL_DIR, SUMMARY_FILE, PeakMemory, prepare_out_dir, snapshot_dirs

EVAL_FILE = "eval.json"
METRICS_FILE = "metrics.json"
STAGES_FILE = "stages.json"
# Evaluation streams: the reference's samples (for win rates) and every policy's samples are
# drawn with seeds of their own, the same for every method of a seed.
REFERENCE_SAMPLE_SEED = 50_000
POLICY_SAMPLE_SEED = 60_000
TIMING_KEYS = ("wall_time_s", "pipeline_time_s", "eval_time_s", "tokens_per_s", "peak_mem_mb")


@dataclass(frozen=True)
class RunSpec:
    """One trained (or sampled) policy: a method at one setting and seed."""

    method: str
    params: tuple[tuple[str, Any], ...]
    seed: int

    @property
    def setting(self) -> str:
        return ",".join(f"{k}={v}" for k, v in self.params) or "default"

    def directory(self, run_dir: Path) -> Path:
        return run_dir / "runs" / self.method / self.setting / f"seed-{self.seed}"


def expand(config: ExperimentConfig) -> list[RunSpec]:
    """Every (method, setting, seed) of the experiment, in config order."""
    runs = []
    for spec in config.methods:
        settings = [((key, value),) for key, values in spec.sweep.items() for value in values] or [()]
        runs += [RunSpec(spec.method, params, seed) for params in settings for seed in config.seeds]
    return runs


def run_config(config: ExperimentConfig, spec: MethodSpec, run: RunSpec) -> ExperimentConfig:
    """The experiment config with this run's method section set: fixed method settings, the
    method's overrides, and the swept value (an experiment control such as
    ``preferences.label_noise`` goes to its own section)."""
    settings = {**spec.overrides, **dict(run.params)}
    controls: dict[str, dict[str, Any]] = {}
    for key in [k for k in settings if k in EXPERIMENT_CONTROLS]:
        section, name = key.split(".")
        controls.setdefault(section, {})[name] = settings.pop(key)
    if controls:
        config = with_settings(config, controls, f"method {run.method} ({run.setting})")
    return method_config(config, run.method, settings)


def _spec_for(config: ExperimentConfig, run: RunSpec) -> MethodSpec:
    for spec in config.methods:
        if spec.method == run.method:
            return spec
    raise AlignlabError(f"method {run.method} is not in the config")


def _free_memory() -> None:
    """Return freed memory to the system between runs, so that each run's peak is its own."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif platform.system() == "Linux":
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except OSError:
            pass


class Experiment:
    """The state of one comparison run, and the stages that fill its directory."""

    def __init__(self, config: ExperimentConfig, run_dir: Path) -> None:
        self.config = config
        self.run_dir = run_dir
        self.device = device()
        self.tokenizer = load_tokenizer(config.model)
        self.task: Task = load_task(config.task, self.tokenizer)
        if self.task.reward is None:
            raise AlignlabError(
                f"task '{self.task.name}' has no gold reward to evaluate with; "
                "set task.reward=module:function (a function scoring prompts and completions)"
            )
        self.stages: dict[str, Any] = self._read_json(run_dir / STAGES_FILE) or {}
        self._reference: torch.nn.Module | None = None
        self._reference_rewards: dict[int, list[float]] = {}
        self._relevance: RelevanceScorer | None = None
        self.relevance_note: str | None = None

    @staticmethod
    def _read_json(path: Path) -> Any:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None

    def _record_stage(self, name: str, cost: dict[str, Any]) -> None:
        self.stages[name] = cost
        write_json(self.run_dir / STAGES_FILE, self.stages)

    @property
    def reference(self) -> torch.nn.Module:
        """The base policy, frozen: reference for KL and perplexity, and the sampler of best-of-n."""
        if self._reference is None:
            self._reference = load_causal_lm(self.config.model, self.device, trainable=False)
        return self._reference

    # ---------------------------------------------------------------- shared stages

    def preferences(self) -> list:
        path = self.run_dir / "preferences.jsonl"
        if path.is_file():
            return read_preferences(path)
        started = time.perf_counter()
        with PeakMemory() as memory:
            pairs = sample_preferences(self.config, self.task)
        write_preferences(path, pairs)
        self._record_stage(
            "preferences",
            {
                "wall_time_s": time.perf_counter() - started,
                "peak_mem_mb": memory.peak_mb,
                "pairs": len(pairs),
                # Every sampled completion is scored by the gold reward to label pairs.
                "gold_queries": 0
                if self.task.preference_pairs is not None
                else len(self.task.train_prompts) * self.config.preferences.completions_per_prompt,
            },
        )
        logger.info("preference data: %d pairs", len(pairs))
        return pairs

    def pairs_for(self, config: ExperimentConfig) -> list:
        """The shared pairs with ``config``'s label noise applied (seeded, nested across eps)."""
        return flip_labels(self.preferences(), config.preferences.label_noise, self.config.task.split_seed)

    def reward_model_dir(self, seed: int, noise: float = 0.0) -> Path:
        """The reward model of ``seed`` (on pairs with ``noise`` of their labels flipped),
        trained on first use."""
        from alignlab.trainers.reward import train_reward_model

        name = f"seed-{seed}" + (f"-noise-{noise:g}" if noise else "")
        out = self.run_dir / "reward_model" / name
        if not (out / SUMMARY_FILE).is_file():
            started = time.perf_counter()
            noisy = with_settings(self.config, {"preferences": {"label_noise": noise}}, "label noise")
            summary = train_reward_model(
                self.config, self.pairs_for(noisy), self.task.train_prompts, out, seed, resume=out.exists()
            )
            cost = dict(summary["cost"], train_time_s=summary["cost"]["wall_time_s"])
            cost["wall_time_s"] = time.perf_counter() - started
            self._record_stage(f"reward_model/{name}", cost)
            logger.info(
                "reward model seed %d: held-out accuracy %.3f",
                seed,
                summary["final_eval"].get("eval/accuracy", float("nan")),
            )
            _free_memory()
        return out / MODEL_DIR

    def reward_model_time(self, seed: int, noise: float = 0.0) -> float:
        name = f"seed-{seed}" + (f"-noise-{noise:g}" if noise else "")
        return float(self.stages.get(f"reward_model/{name}", {}).get("wall_time_s", 0.0))

    @property
    def relevance(self) -> RelevanceScorer | None:
        """The relevance scorer, loaded on first use; None (with ``relevance_note``) if unavailable."""
        if self._relevance is None and self.relevance_note is None:
            self._relevance, self.relevance_note = relevance_scorer(
                self.config.evaluation.relevance_model, self.task.language
            )
        return self._relevance

    def reference_rewards(self, seed: int) -> list[float]:
        """Gold rewards of the reference's own samples of the eval prompts (for win rates)."""
        if seed not in self._reference_rewards:
            samples = self._sample(self.reference, seed, REFERENCE_SAMPLE_SEED)
            self._reference_rewards[seed] = self.task.reward(samples.prompts, samples.texts)
        return self._reference_rewards[seed]

    def _sample(self, model: torch.nn.Module, seed: int, stream: int, per_prompt: int | None = None) -> EvalSamples:
        return sample_for_eval(
            model,
            self.tokenizer,
            self.task.eval_prompts,
            self.config.evaluation,
            self.config.task.max_prompt_tokens,
            stream + seed,
            per_prompt,
        )

    # ---------------------------------------------------------------- one run

    def train(self, run: RunSpec, out: Path) -> dict[str, Any]:
        """Train one run (resuming it if a previous attempt was cut off); its summary."""
        cfg = run_config(self.config, _spec_for(self.config, run), run)
        resume = out.exists()
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
        cache = None
        noise = cfg.preferences.label_noise
        if section_of(run.method) == "dpo":
            # Every DPO-family run starts from the same base on the same pairs: one reference pass.
            suffix = ("-average" if cfg.dpo.average_log_prob else "") + (f"-noise-{noise:g}" if noise else "")
            cache = self.run_dir / f"reference_logps{suffix}.safetensors"
        reward_model = None
        if uses_reward_model(cfg, run.method):
            reward_model = str(self.reward_model_dir(run.seed, noise))
        self._free_reference()
        return train_method(
            run.method,
            cfg,
            out,
            run.seed,
            resume,
            pairs=self.pairs_for(cfg),
            prompts=self.task.train_prompts,
            gold_reward=self.task.reward,
            reward_model=reward_model,
            reference_cache=cache,
        )

    def _free_reference(self) -> None:
        self._reference = None
        _free_memory()

    def evaluate_policy(
        self,
        model: torch.nn.Module | None,
        seed: int,
        kl: float | None = None,
        samples: EvalSamples | None = None,
        proxy: Path | None = None,
    ) -> dict[str, Any]:
        """Held-out metrics of ``model``'s samples (or of given ``samples`` with a known ``kl``);
        with ``proxy`` (a reward model directory), also the mean standardised proxy score."""
        started = time.perf_counter()
        samples = samples or self._sample(model, seed, POLICY_SAMPLE_SEED)
        metrics = evaluate_samples(
            samples,
            model,
            self.reference,
            self.task.reward,
            self.reference_rewards(seed),
            self.config.evaluation.generation.temperature,
            self.config.evaluation.generation.batch_size,
            kl=kl,
            relevance=self.relevance,
        )
        metrics["proxy_score"] = float(self._reward_model_scores(samples, proxy).mean()) if proxy else None
        metrics["eval_time_s"] = time.perf_counter() - started
        k = self.config.evaluation.samples_per_prompt
        n_examples = self.config.evaluation.report_examples
        metrics["examples"] = [
            {"prompt": samples.prompts[i * k], "completion": samples.texts[i * k]}
            for i in range(min(n_examples, len(samples.texts) // k))
        ]
        return metrics

    def best_of_n(self, run: RunSpec) -> dict[str, Any]:
        full = run_config(self.config, _spec_for(self.config, run), run)
        cfg, noise = full.best_of_n, full.preferences.label_noise
        proxy = self.reward_model_dir(run.seed, noise) if cfg.scorer == "reward_model" else None
        started = time.perf_counter()
        with PeakMemory() as memory:
            k = self.config.evaluation.samples_per_prompt
            candidates = self._sample(self.reference, run.seed, POLICY_SAMPLE_SEED, per_prompt=k * cfg.n)
            if cfg.scorer == "gold":
                scores = torch.tensor(self.task.reward(candidates.prompts, candidates.texts))
            else:
                scores = self._reward_model_scores(candidates, proxy)
            chosen = best_of_n(candidates, scores, cfg.n)
            sampling_time = time.perf_counter() - started
            metrics = self.evaluate_policy(None, run.seed, kl=best_of_n_kl(cfg.n), samples=chosen, proxy=proxy)
        tokens = int(candidates.rollout.response_mask.sum() + candidates.rollout.prompt_mask.sum())
        rm_time = self.reward_model_time(run.seed, noise) if cfg.scorer == "reward_model" else 0.0
        return {
            **metrics,
            "scorer": cfg.scorer,
            "wall_time_s": sampling_time,
            "pipeline_time_s": sampling_time + rm_time,
            "tokens_per_s": tokens / sampling_time,
            "peak_mem_mb": memory.peak_mb,
            "models_in_memory": 1 + (cfg.scorer == "reward_model"),
            "trainable_params": 0,
            "gold_queries": len(candidates.texts)
            if cfg.scorer == "gold"
            else int(self.stages.get("preferences", {}).get("gold_queries", 0)),
            "checkpoints": [],
        }

    @torch.no_grad()
    def _reward_model_scores(self, samples: EvalSamples, model_dir: Path) -> torch.Tensor:
        """The reward model's standardised scores of ``samples`` (the scale PPO trains on)."""
        reward_model = load_reward_model(self.config.model, self.device, str(model_dir))
        mean, std = load_reward_normalization(model_dir)
        size = self.config.evaluation.generation.batch_size
        raw = torch.cat(
            [sequence_scores(reward_model, part.to(self.device)).cpu() for part in samples.rollout.chunks(size)]
        )
        return (raw - mean) / std

    def run_one(self, run: RunSpec) -> dict[str, Any]:
        """Train (unless done) and evaluate one run; its record."""
        out = run.directory(self.run_dir)
        done = self._read_json(out / EVAL_FILE)
        if done is not None:
            return done
        if run.method == "best-of-n":
            result = self.best_of_n(run)
        else:
            summary = self._read_json(out / SUMMARY_FILE) or self.train(run, out)
            _free_memory()
            cfg = run_config(self.config, _spec_for(self.config, run), run)
            noise = cfg.preferences.label_noise
            proxy = self.reward_model_dir(run.seed, noise) if uses_reward_model(cfg, run.method) else None
            result = self.evaluate_run(out, run.seed, proxy)
            cost = summary["cost"]
            rm_time = self.reward_model_time(run.seed, noise) if uses_reward_model(cfg, run.method) else 0.0
            result["gold_queries"] = self.gold_queries(cfg, run.method, summary)
            result.update(
                wall_time_s=cost["wall_time_s"],
                pipeline_time_s=cost["wall_time_s"] + rm_time,
                tokens_per_s=cost["tokens_per_s"],
                peak_mem_mb=cost["peak_mem_mb"],
                models_in_memory=cost["models_in_memory"],
                trainable_params=cost["trainable_params"],
            )
        record = {"method": run.method, "params": dict(run.params), "seed": run.seed, **result}
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / EVAL_FILE, record)
        _free_memory()
        return record

    def evaluate_run(self, out: Path, seed: int, proxy: Path | None) -> dict[str, Any]:
        """Held-out metrics of a trained run's final policy, with ``checkpoints``: the same
        metrics (no examples) of each snapshot taken during training, in training order."""
        model = load_trained_policy(self.config.model, self.device, out)
        result = self.evaluate_policy(model, seed, proxy=proxy)
        del model
        checkpoints = []
        for step, directory in snapshot_dirs(out):
            snapshot = load_causal_lm(self.config.model, self.device, str(directory), trainable=False)
            metrics = self.evaluate_policy(snapshot, seed, proxy=proxy)
            del snapshot
            metrics.pop("examples", None)
            checkpoints.append({"step": step, **metrics})
        total = sum(c["eval_time_s"] for c in checkpoints)
        result["checkpoints"] = checkpoints
        result["checkpoint_eval_time_s"] = total
        return result

    def gold_queries(self, cfg: ExperimentConfig, method: str, summary: dict[str, Any]) -> int:
        """Gold-reward calls a run consumed: its own calls when it trains on the gold reward, else
        the preference labels it learned from (directly or through the reward model)."""
        if uses_gold_reward(cfg, method):
            section = getattr(cfg, section_of(method))
            group = getattr(section, "group_size", 2 if method == "online-dpo" else 1)
            return section.iterations * section.prompts_per_iteration * group
        return int(self.stages.get("preferences", {}).get("gold_queries", 0))

    def base_record(self, seed: int) -> dict[str, Any]:
        out = self.run_dir / "runs" / "base" / "default" / f"seed-{seed}"
        done = self._read_json(out / EVAL_FILE)
        if done is not None:
            return done
        _, total = count_parameters(self.reference)
        metrics = self.evaluate_policy(self.reference, seed)
        record = {
            "method": "base",
            "params": {},
            "seed": seed,
            **metrics,
            # The reference is not trained: it has no training cost to report.
            "wall_time_s": None,
            "pipeline_time_s": None,
            "tokens_per_s": None,
            "peak_mem_mb": None,
            "models_in_memory": 1,
            "trainable_params": 0,
            "total_params": total,
        }
        out.mkdir(parents=True, exist_ok=True)
        write_json(out / EVAL_FILE, record)
        return record


def new_run_dir(config: ExperimentConfig) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(config.output_dir) / f"{config.name}-{stamp}"


@dataclass(frozen=True)
class Launcher:
    """Where the runs of a comparison go: one after another in this process (``serial``), or as
    Ray tasks over a local or remote cluster (``ray``), each with its CPUs (and torch threads)
    and GPUs."""

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


def _remote_run(config_dict: dict[str, Any], run_dir: str, run: RunSpec, threads: int) -> dict[str, Any]:
    """One run inside a Ray worker: its own Experiment on the shared run directory."""
    from alignlab.config import from_dict
    from alignlab.log import setup_logging

    setup_logging()
    config = from_dict(ExperimentConfig, config_dict, "the comparison's config")
    set_threads(config, threads)
    return Experiment(config, Path(run_dir)).run_one(run)


def _prepare_shared(experiment: Experiment, runs: list[RunSpec]) -> None:
    """What runs share, made once before any is dispatched: the pairs, each seed's reward model,
    and the DPO family's reference log-probs."""
    experiment.preferences()
    for run in runs:
        cfg = run_config(experiment.config, _spec_for(experiment.config, run), run)
        if uses_reward_model(cfg, run.method):
            experiment.reward_model_dir(run.seed, cfg.preferences.label_noise)


def _run_on_ray(experiment: Experiment, runs: list[RunSpec], launcher: Launcher) -> list[dict[str, Any]]:
    try:
        import ray
    except ImportError:
        raise AlignlabError("--launcher ray needs Ray: pip install 'alignlab[ray]'") from None
    from alignlab.config import to_dict

    if not ray.is_initialized():
        ray.init(address=launcher.address, include_dashboard=False, log_to_driver=False)
    remote = ray.remote(num_cpus=launcher.cpus_per_run, num_gpus=launcher.gpus_per_run)(_remote_run)
    config_dict = to_dict(experiment.config)
    pending, done = list(runs), {}
    in_flight: dict[Any, RunSpec] = {}
    limit = launcher.max_parallel or len(runs)
    with progress_task("runs (ray)", len(runs)) as advance:
        while pending or in_flight:
            while pending and len(in_flight) < limit:
                run = pending.pop(0)
                in_flight[remote.remote(config_dict, str(experiment.run_dir), run, launcher.cpus_per_run)] = run
            ready, _ = ray.wait(list(in_flight), num_returns=1)
            for ref in ready:
                run = in_flight.pop(ref)
                done[run] = ray.get(ref)
                advance(1, last=f"{run.method} gold={done[run]['gold_reward']:.3f}")
    return [done[run] for run in runs]


def run_comparison(
    config: ExperimentConfig, out_dir: Path | None, resume: bool, launcher: Launcher | None = None
) -> Path:
    """Run (or resume) the experiment of ``config``; returns the run directory."""
    from alignlab.report import print_summary, write_metrics, write_report

    launcher = launcher or Launcher()
    if not config.methods:
        raise AlignlabError("the config lists no methods to compare (methods: [...])")
    run_dir = out_dir or new_run_dir(config)
    if not resume and prepare_out_dir(run_dir, resume=False):
        save_config(config, run_dir / "config.yaml")
    logger.info("run directory: %s", run_dir)
    set_threads(config)
    started = time.perf_counter()
    experiment = Experiment(config, run_dir)
    runs = expand(config)
    records = []
    if launcher.kind == "ray":
        _prepare_shared(experiment, runs)
        records = [experiment.base_record(seed) for seed in config.seeds]
        experiment._free_reference()
        records += _run_on_ray(experiment, runs, launcher)
    else:
        with progress_task("comparison", len(runs) + len(config.seeds)) as advance:
            experiment.preferences()
            for seed in config.seeds:
                records.append(experiment.base_record(seed))
                advance(1)
            for run in runs:
                logger.info("%s %s seed %d", run.method, run.setting, run.seed)
                record = experiment.run_one(run)
                records.append(record)
                advance(1, last=f"{run.method} gold={record['gold_reward']:.3f}")
    stages = experiment._read_json(run_dir / STAGES_FILE) or experiment.stages
    write_metrics(run_dir, config, records, stages, time.perf_counter() - started, experiment.relevance_note)
    report_path = write_report(run_dir)
    print_summary(run_dir)
    logger.info("report: %s", report_path)
    return run_dir


def evaluate_target(target: Path, config_path: Path | None, overrides: list[str], seed: int) -> None:
    """``alignlab eval``: re-evaluate every run of a comparison directory (rewriting its
    metrics and report), or evaluate one model directory against the base policy."""
    from alignlab.report import print_summary, write_metrics, write_report

    if (target / "config.yaml").is_file() and (target / "runs").is_dir():
        config = load_config(target / "config.yaml", overrides)
        for path in (target / "runs").glob(f"*/*/seed-*/{EVAL_FILE}"):
            path.unlink()
        experiment = Experiment(config, target)
        records = [experiment.base_record(s) for s in config.seeds]
        records += [experiment.run_one(run) for run in expand(config)]
        write_metrics(target, config, records, experiment.stages, None, experiment.relevance_note)
        write_report(target)
        print_summary(target)
        return
    model_dir = target / MODEL_DIR if (target / MODEL_DIR / "config.json").is_file() else target
    if not (model_dir / "config.json").is_file():
        raise AlignlabError(f"'{target}' is neither a comparison run directory nor a model directory")
    config = load_config(config_path, overrides)
    experiment = Experiment(config, model_dir.parent)
    model = load_causal_lm(config.model, experiment.device, str(model_dir), trainable=False)
    metrics = experiment.evaluate_policy(model, seed)
    base = experiment.evaluate_policy(experiment.reference, seed)
    write_json(model_dir.parent / EVAL_FILE, {"model": str(model_dir), "seed": seed, **metrics})
    table = Table(title=f"held-out evaluation of {model_dir} (seed {seed})")
    for column in ("metric", "model", "base"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for key, value in metrics.items():
        if isinstance(value, float):
            table.add_row(key, f"{value:.4g}", f"{base[key]:.4g}")
    console.print(table)
