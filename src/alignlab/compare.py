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

import gc
import json
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from rich.table import Table

from alignlab.config import METHODS, ExperimentConfig, MethodSpec, load_config, save_config, with_settings
from alignlab.data import read_preferences, write_preferences
from alignlab.errors import AlignlabError
from alignlab.evaluate import (
    EvalSamples,
    best_of_n,
    best_of_n_kl,
    evaluate_samples,
    sample_for_eval,
)
from alignlab.log import console, logger
from alignlab.models import count_parameters, load_causal_lm, load_reward_model, load_tokenizer
from alignlab.pipeline import device, sample_preferences
from alignlab.progress import progress_task
from alignlab.relevance import RelevanceScorer, relevance_scorer
from alignlab.rollout import reward_model_scores
from alignlab.tasks import Task, load_task
from alignlab.trainers.common import MODEL_DIR, SUMMARY_FILE, PeakMemory, prepare_out_dir, write_json

EVAL_FILE = "eval.json"
METRICS_FILE = "metrics.json"
STAGES_FILE = "stages.json"
# Evaluation streams: the reference's samples (for win rates) and every policy's samples are
# drawn with seeds of their own, the same for every method of a seed.
REFERENCE_SAMPLE_SEED = 50_000
POLICY_SAMPLE_SEED = 60_000
TIMING_KEYS = ("wall_time_s", "pipeline_time_s", "eval_time_s", "tokens_per_s", "peak_mem_mb")
NEEDS_REWARD_MODEL = {"ppo", "grpo", "rloo", "best-of-n"}


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


def method_config(config: ExperimentConfig, spec: MethodSpec, run: RunSpec) -> ExperimentConfig:
    """The experiment config with this run's method section set: fixed method settings, the
    method's overrides, and the swept value."""
    section, fixed = METHODS[run.method]
    section = section or "best_of_n"
    settings = {**fixed, **spec.overrides, **dict(run.params)}
    return with_settings(config, {section: settings}, f"method {run.method} ({run.setting})")


def _spec_for(config: ExperimentConfig, run: RunSpec) -> MethodSpec:
    for spec in config.methods:
        if spec.method == run.method:
            return spec
    raise AlignlabError(f"method {run.method} is not in the config")


def _uses_reward_model(config: ExperimentConfig, method: str) -> bool:
    if method not in NEEDS_REWARD_MODEL:
        return False
    if method == "best-of-n":
        return config.best_of_n.scorer == "reward_model"
    return getattr(config, METHODS[method][0]).reward_source == "reward_model"


def _free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


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
            {"wall_time_s": time.perf_counter() - started, "peak_mem_mb": memory.peak_mb, "pairs": len(pairs)},
        )
        logger.info("preference data: %d pairs", len(pairs))
        return pairs

    def reward_model_dir(self, seed: int) -> Path:
        """The reward model of ``seed``, trained on first use."""
        from alignlab.trainers.reward import train_reward_model

        out = self.run_dir / "reward_model" / f"seed-{seed}"
        if not (out / SUMMARY_FILE).is_file():
            started = time.perf_counter()
            summary = train_reward_model(
                self.config, self.preferences(), self.task.train_prompts, out, seed, resume=out.exists()
            )
            cost = dict(summary["cost"], train_time_s=summary["cost"]["wall_time_s"])
            cost["wall_time_s"] = time.perf_counter() - started
            self._record_stage(f"reward_model/seed-{seed}", cost)
            logger.info(
                "reward model seed %d: held-out accuracy %.3f",
                seed,
                summary["final_eval"].get("eval/accuracy", float("nan")),
            )
            _free_memory()
        return out / MODEL_DIR

    def reward_model_time(self, seed: int) -> float:
        return float(self.stages.get(f"reward_model/seed-{seed}", {}).get("wall_time_s", 0.0))

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
        from alignlab.trainers.dpo import train_dpo
        from alignlab.trainers.grpo import train_grpo, train_rloo
        from alignlab.trainers.ppo import train_ppo

        cfg = method_config(self.config, _spec_for(self.config, run), run)
        resume = out.exists()
        out.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out / "config.yaml")
        section = METHODS[run.method][0]
        if section == "dpo":
            # Every DPO-family run starts from the same base on the same pairs: one reference pass.
            cache = self.run_dir / f"reference_logps{'-average' if cfg.dpo.average_log_prob else ''}.safetensors"
            return train_dpo(cfg, self.preferences(), out, run.seed, resume, reference_cache=cache)
        rm_dir = str(self.reward_model_dir(run.seed)) if _uses_reward_model(cfg, run.method) else None
        trainer = {"ppo": train_ppo, "grpo": train_grpo, "rloo": train_rloo}[section]
        return trainer(cfg, self.task.train_prompts, self.task.reward, out, run.seed, resume, rm_dir)

    def evaluate_policy(
        self, model: torch.nn.Module | None, seed: int, kl: float | None = None, samples: EvalSamples | None = None
    ) -> dict[str, Any]:
        """Held-out metrics of ``model``'s samples (or of given ``samples`` with a known ``kl``)."""
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
        metrics["eval_time_s"] = time.perf_counter() - started
        k = self.config.evaluation.samples_per_prompt
        n_examples = self.config.evaluation.report_examples
        metrics["examples"] = [
            {"prompt": samples.prompts[i * k], "completion": samples.texts[i * k]}
            for i in range(min(n_examples, len(samples.texts) // k))
        ]
        return metrics

    def best_of_n(self, run: RunSpec) -> dict[str, Any]:
        cfg = method_config(self.config, _spec_for(self.config, run), run).best_of_n
        started = time.perf_counter()
        with PeakMemory() as memory:
            k = self.config.evaluation.samples_per_prompt
            candidates = self._sample(self.reference, run.seed, POLICY_SAMPLE_SEED, per_prompt=k * cfg.n)
            if cfg.scorer == "gold":
                scores = torch.tensor(self.task.reward(candidates.prompts, candidates.texts))
            else:
                scores = self._reward_model_scores(candidates, run.seed)
            chosen = best_of_n(candidates, scores, cfg.n)
            sampling_time = time.perf_counter() - started
            metrics = self.evaluate_policy(None, run.seed, kl=best_of_n_kl(cfg.n), samples=chosen)
        tokens = int(candidates.rollout.response_mask.sum() + candidates.rollout.prompt_mask.sum())
        rm_time = self.reward_model_time(run.seed) if cfg.scorer == "reward_model" else 0.0
        return {
            **metrics,
            "scorer": cfg.scorer,
            "wall_time_s": sampling_time,
            "pipeline_time_s": sampling_time + rm_time,
            "tokens_per_s": tokens / sampling_time,
            "peak_mem_mb": memory.peak_mb,
            "models_in_memory": 1 + (cfg.scorer == "reward_model"),
            "trainable_params": 0,
        }

    @torch.no_grad()
    def _reward_model_scores(self, samples: EvalSamples, seed: int) -> torch.Tensor:
        reward_model = load_reward_model(self.config.model, self.device, str(self.reward_model_dir(seed)))
        rollout = samples.rollout.to(self.device)
        size = self.config.evaluation.generation.batch_size
        scores = [
            reward_model_scores(
                reward_model,
                part.prompt_ids,
                part.prompt_mask,
                part.response_ids,
                part.response_mask,
                self.tokenizer.pad_token_id,
            ).cpu()
            for part in (rollout.select(slice(i, i + size)) for i in range(0, len(rollout), size))
        ]
        return torch.cat(scores)

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
            model = load_causal_lm(self.config.model, self.device, str(out / MODEL_DIR), trainable=False)
            result = self.evaluate_policy(model, run.seed)
            del model
            cost = summary["cost"]
            cfg = method_config(self.config, _spec_for(self.config, run), run)
            rm_time = self.reward_model_time(run.seed) if _uses_reward_model(cfg, run.method) else 0.0
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


def run_comparison(config: ExperimentConfig, out_dir: Path | None, resume: bool) -> Path:
    """Run (or resume) the experiment of ``config``; returns the run directory."""
    from alignlab.report import print_summary, write_metrics, write_report

    if not config.methods:
        raise AlignlabError("the config lists no methods to compare (methods: [...])")
    run_dir = out_dir or new_run_dir(config)
    if not resume:
        prepare_out_dir(run_dir, resume=False)
        save_config(config, run_dir / "config.yaml")
    logger.info("run directory: %s", run_dir)
    started = time.perf_counter()
    experiment = Experiment(config, run_dir)
    runs = expand(config)
    records = []
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
    write_metrics(run_dir, config, records, experiment.stages, time.perf_counter() - started, experiment.relevance_note)
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
