"""One comparison's runs and the stages they share.

``expand`` turns a config into its runs (method x setting x seed); ``Experiment`` makes what
runs share (the preference pairs, an optional SFT model that then serves as every method's start
and reference, each seed's reward model, the DPO family's reference log-probs), trains and
evaluates one run at a time into the comparison's directory (``layout.ComparisonDir``), and skips
whatever is already there.
"""

from __future__ import annotations

import ctypes
import gc
import json
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from alignlab import distributed
from alignlab.config import ExperimentConfig, MethodSpec, PreferenceConfig, method_config, save_config, with_settings
from alignlab.config.experiment import EXPERIMENT_CONTROLS
from alignlab.config.methods import METHODS
from alignlab.data import PreferencePair, read_preferences, write_preferences
from alignlab.errors import AlignlabError
from alignlab.evaluation import POLICY_SAMPLE_SEED, Evaluator, best_of_n
from alignlab.files import write_json
from alignlab.layout import BASE_METHOD, ComparisonDir, TrainingDir, setting_label
from alignlab.log import logger
from alignlab.models import count_parameters, load_tokenizer
from alignlab.pipeline import device, sample_preferences
from alignlab.records import RunCost, run_record
from alignlab.report.statistics import best_of_n_kl
from alignlab.tasks import Task, load_task
from alignlab.tasks.preferences import vary_pairs
from alignlab.trainers import TrainInputs, train
from alignlab.trainers.costs import PeakMemory


@dataclass(frozen=True)
class RunSpec:
    """One trained (or sampled) policy: a method at one setting and seed, evaluated on the test
    prompts (a reported run) or the validation prompts (a tuning trial)."""

    method: str
    params: tuple[tuple[str, Any], ...]
    seed: int
    split: str = "test"

    @property
    def setting(self) -> str:
        return setting_label(dict(self.params))


Params = tuple[tuple[str, Any], ...]


def expand(config: ExperimentConfig, chosen: dict[str, Params] | None = None) -> list[RunSpec]:
    """Every reported (method, setting, seed) of the experiment, in config order: a tuned method
    at the setting its search ``chosen`` (with each value of a sweep of experiment controls)."""
    runs = []
    for spec in config.methods:
        fixed = (chosen or {}).get(spec.method, ())
        runs += [
            RunSpec(spec.method, fixed + params, seed) for params in sweep_points(config, spec) for seed in config.seeds
        ]
    return runs


def sweep_points(config: ExperimentConfig, spec: MethodSpec) -> list[Params]:
    """The settings a method runs at: each value of its sweep. Several swept settings are varied
    one at a time around the configured setting, which runs too, once (a swept experiment control
    at its configured value is that run): the centre every variation is compared with."""
    points = [((key, value),) for key, values in spec.sweep.items() for value in values]
    if len(spec.sweep) < 2:
        return points or [()]
    return [()] + [((key, value),) for ((key, value),) in points if not _is_configured(config, key, value)]


def _is_configured(config: ExperimentConfig, key: str, value: Any) -> bool:
    """Whether an experiment control's ``value`` is the configured one."""
    if key not in EXPERIMENT_CONTROLS:
        return False
    section, name = key.split(".")
    return getattr(getattr(config, section), name) == value


def tuning_trials(config: ExperimentConfig) -> list[RunSpec]:
    """Every trial of the tuning search (``tuning.trials`` settings per tuned method, on each of
    the search's seeds), judged on validation prompts."""
    from alignlab.tuning import trial_settings, tuned_methods

    return [
        RunSpec(method, params, seed, "validation")
        for method in tuned_methods(config)
        for params in trial_settings(config, method)
        for seed in config.tuning.seeds
    ]


def trains(method: str) -> bool:
    """Whether a run of ``method`` trains a policy (best-of-n only samples the base policy)."""
    return METHODS[method].trainer is not None


def spec_for(config: ExperimentConfig, run: RunSpec) -> MethodSpec:
    for spec in config.methods:
        if spec.method == run.method:
            return spec
    raise AlignlabError(f"method {run.method} is not in the config")


def run_config(config: ExperimentConfig, run: RunSpec) -> ExperimentConfig:
    """The experiment config with this run's method section set: fixed method settings, the
    method's overrides, and the swept value (an experiment control such as
    ``preferences.label_noise`` goes to its own section)."""
    settings = {**spec_for(config, run).overrides, **dict(run.params)}
    controls: dict[str, dict[str, Any]] = {}
    for key in [k for k in settings if k in EXPERIMENT_CONTROLS]:
        section, name = key.split(".")
        controls.setdefault(section, {})[name] = settings.pop(key)
    if controls:
        config = with_settings(config, controls, f"method {run.method} ({run.setting})")
    return method_config(config, run.method, settings)


def free_memory() -> None:
    """Return freed memory to the system between runs, so that each run's peak is its own."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    elif platform.system() == "Linux":
        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except OSError:
            pass


def read_json_if_any(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


class Experiment:
    """The state of one comparison, and the stages that fill its directory."""

    def __init__(self, config: ExperimentConfig, directory: ComparisonDir) -> None:
        self.config = config
        self.dir = directory
        self.device = device()
        self.tokenizer = load_tokenizer(config.model)
        self.task: Task = load_task(config.task, self.tokenizer)
        if self.task.reward is None:
            raise AlignlabError(
                f"task '{self.task.name}' has no gold reward to evaluate with; "
                "set task.reward=module:function (a function scoring prompts and completions)"
            )
        self.stages: dict[str, Any] = read_json_if_any(directory.stages) or {}
        self.evaluator = Evaluator(config, self.task, self.tokenizer, self.device)
        # Everything alive now (modules, tokenizer, task, lexicons) lives as long as the
        # experiment: out of the collector's sight, each collection between runs takes
        # milliseconds instead of a quarter of a second.
        gc.freeze()

    def _record_stage(self, name: str, cost: dict[str, Any]) -> None:
        self.stages[name] = cost
        write_json(self.dir.stages, self.stages)

    # ---------------------------------------------------------------- shared stages

    def preferences(self) -> list[PreferencePair]:
        """The pairs every method learns from: sampled from the base policy once, then read."""
        path = self.dir.preferences
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

    def supervised_start(self) -> None:
        """With ``sft.enabled``: fine-tune the base on the pairs' chosen responses (once), and
        make the SFT model the base of everything after: every method's start, the reference of
        the KL terms and of evaluation, and the trunk of the reward models."""
        if not self.config.sft.enabled:
            return
        out = self.dir.sft
        if not out.trained:
            started = time.perf_counter()
            inputs = TrainInputs("sft", self.config, seed=0, pairs=self.preferences())
            summary = train(inputs, TrainingDir(out.path, resume=out.path.exists()))
            self._record_stage("sft", dict(summary["cost"], wall_time_s=time.perf_counter() - started))
            free_memory()
        self.config = with_settings(self.config, {"model": {"name_or_path": str(out.model)}}, "sft")
        self.evaluator = Evaluator(self.config, self.task, self.tokenizer, self.device)

    def pairs_for(self, preferences: PreferenceConfig) -> list[PreferencePair]:
        """The shared pairs as ``preferences`` varies them: a seeded subset of ``max_pairs``
        (nested: a smaller one is part of a larger one), then ``label_noise`` of their labels
        flipped (seeded, nested across eps)."""
        return vary_pairs(self.preferences(), preferences, self.config.task.split_seed)

    def _reward_model_name(self, seed: int, preferences: PreferenceConfig) -> str:
        return self.dir.reward_model_name(seed, preferences.label_noise, preferences.max_pairs)

    def reward_model_dir(self, seed: int, preferences: PreferenceConfig) -> Path:
        """The reward model of ``seed`` on the pairs ``preferences`` gives (``pairs_for``), trained
        on first use; or the one ``reward_model.path`` names, used as it is."""
        if self.config.reward_model.path:
            return Path(self.config.reward_model.path)
        out = self.dir.reward_model(seed, preferences.label_noise, preferences.max_pairs)
        if not out.trained:
            started = time.perf_counter()
            pairs = self.pairs_for(preferences)
            inputs = TrainInputs("rm", self.config, seed=seed, pairs=pairs, prompts=self.task.train_prompts)
            summary = train(inputs, TrainingDir(out.path, resume=out.path.exists()))
            cost = dict(summary["cost"], train_time_s=summary["cost"]["wall_time_s"])
            cost["wall_time_s"] = time.perf_counter() - started
            self._record_stage(f"reward_model/{self._reward_model_name(seed, preferences)}", cost)
            logger.info(
                "reward model seed %d (%d pairs): held-out accuracy %.3f",
                seed,
                len(pairs),
                summary["final_eval"].get("eval/accuracy", float("nan")),
            )
            free_memory()
        return out.model

    def reward_model_time(self, seed: int, preferences: PreferenceConfig) -> float:
        stage = self.stages.get(f"reward_model/{self._reward_model_name(seed, preferences)}", {})
        return float(stage.get("wall_time_s", 0.0))

    def reference_cache(self, cfg: ExperimentConfig) -> Path:
        """Where the DPO family's reference log-probs of ``cfg``'s pairs are kept: one pass for
        every run that starts from the same base on the same pairs."""
        prefs = cfg.preferences
        return self.dir.reference_logps(cfg.dpo.average_log_prob, prefs.label_noise, prefs.max_pairs)

    def prepare_shared(self, runs: list[RunSpec]) -> None:
        """What runs share, made before any run: the pairs, the SFT start, each seed's reward
        model, the DPO family's reference log-probs."""
        from alignlab.trainers.dpo import needs_reference, precompute_reference

        self.preferences()
        self.supervised_start()
        for run in runs:
            cfg = run_config(self.config, run)
            if METHODS[run.method].optimises_reward_model(cfg):
                self.reward_model_dir(run.seed, cfg.preferences)
            cache = self.reference_cache(cfg)
            if METHODS[run.method].section == "dpo" and needs_reference(cfg.dpo) and not cache.is_file():
                started = time.perf_counter()
                with PeakMemory() as memory:
                    precompute_reference(cfg, self.pairs_for(cfg.preferences), cache)
                cost = {"wall_time_s": time.perf_counter() - started, "peak_mem_mb": memory.peak_mb}
                self._record_stage(cache.stem, cost)
        free_memory()

    # ---------------------------------------------------------------- one run

    def train(self, run: RunSpec, out: TrainingDir) -> dict[str, Any]:
        """Train one run (resuming it if a previous attempt was cut off); its summary."""
        cfg = run_config(self.config, run)
        method = METHODS[run.method]
        out = TrainingDir(out.path, resume=out.path.exists())
        # Under several processes all must have decided whether to resume before the main one
        # creates the directory.
        distributed.barrier()
        if distributed.rank() == 0:
            out.path.mkdir(parents=True, exist_ok=True)
            save_config(cfg, out.config)
        reward_model = None
        if method.optimises_reward_model(cfg):
            reward_model = str(self.reward_model_dir(run.seed, cfg.preferences))
        # Training measures its own memory: the evaluation's reference must not sit beside it.
        self.evaluator.release_reference()
        free_memory()
        inputs = TrainInputs(
            run.method,
            cfg,
            seed=run.seed,
            pairs=self.pairs_for(cfg.preferences),
            prompts=self.task.train_prompts,
            gold_reward=self.task.reward,
            reward_model=reward_model,
            reference_cache=self.reference_cache(cfg) if method.section == "dpo" else None,
        )
        return train(inputs, out)

    def best_of_n(self, run: RunSpec) -> dict[str, Any]:
        """n samples per prompt from the base policy; the reward model (or gold), with the
        missing-EOS penalty, keeps the best."""
        full = run_config(self.config, run)
        cfg, preferences = full.best_of_n, full.preferences
        proxy = self.reward_model_dir(run.seed, preferences) if cfg.scorer == "reward_model" else None
        started = time.perf_counter()
        evaluator = self.evaluator
        with PeakMemory() as memory:
            k = self.config.evaluation.samples_per_prompt
            candidates = evaluator.sample(evaluator.reference, run.seed, POLICY_SAMPLE_SEED, per_prompt=k * cfg.n)
            if cfg.scorer == "gold":
                scores = torch.tensor(self.task.reward(candidates.prompts, candidates.texts))
            else:
                scores = evaluator.reward_model_scores(candidates, proxy)
            # Ranked by the score the online methods optimise: with the same missing-EOS penalty.
            scores = scores + cfg.missing_eos_penalty * (~candidates.rollout.ended).float()
            chosen = best_of_n(candidates, scores, cfg.n)
            sampling_time = time.perf_counter() - started
            metrics = evaluator.evaluate_policy(None, run.seed, kl=best_of_n_kl(cfg.n), samples=chosen, proxy=proxy)
        rm_time = self.reward_model_time(run.seed, preferences) if proxy is not None else 0.0
        cost = RunCost(
            gold_queries=len(candidates.texts) if proxy is None else self.preference_gold_queries(),
            trained_sequences=None,
            wall_time_s=sampling_time,
            pipeline_time_s=sampling_time + rm_time,
            tokens_per_s=None,
            train_flops=None,
            peak_mem_mb=memory.peak_mb,
            models_in_memory=1 + (proxy is not None),
            trainable_params=0,
            total_params=None,
        )
        return run_record(run.method, dict(run.params), run.seed, cfg.scorer, metrics, cost)

    def run_one(self, run: RunSpec) -> dict[str, Any]:
        """Train (unless done) and evaluate one run on its split's prompts; its record. Under
        several processes this is the main process's part (``train_share`` the others')."""
        out = self.dir.run(run.method, dict(run.params), run.seed, run.split)
        done = read_json_if_any(out.eval)
        if done is not None:
            return done
        if not trains(run.method):
            record = self.best_of_n(run)
        else:
            summary = read_json_if_any(out.summary) or self.train(run, out)
            cfg = run_config(self.config, run)
            method = METHODS[run.method]
            proxy = self.reward_model_dir(run.seed, cfg.preferences) if method.optimises_reward_model(cfg) else None
            metrics = self.evaluator.evaluate_run(out, run.seed, proxy, run.split)
            rm_time = self.reward_model_time(run.seed, cfg.preferences) if proxy is not None else 0.0
            cost = RunCost.of_training(summary["cost"], self.gold_queries(cfg, run.method, summary), rm_time)
            record = run_record(run.method, dict(run.params), run.seed, method.signal(cfg), metrics, cost)
        write_json(out.eval, record)
        free_memory()
        return record

    def train_share(self, run: RunSpec) -> None:
        """A process other than the main one of a multi-process run: its share of the training,
        unless the run is already trained (the main process alone evaluates it and writes the
        record: evaluation samples with one seeded stream in one process)."""
        out = self.dir.run(run.method, dict(run.params), run.seed, run.split)
        if not out.eval.is_file() and not out.trained:
            self.train(run, out)

    def preference_gold_queries(self) -> int:
        return int(self.stages.get("preferences", {}).get("gold_queries", 0))

    def gold_queries(self, cfg: ExperimentConfig, method: str, summary: dict[str, Any]) -> int:
        """Gold-reward calls a run consumed: the samples it scored when it trains on the gold
        reward, else the preference labels it learned from (directly or through the reward model)."""
        if METHODS[method].signal(cfg) == "gold":
            return int(summary["samples_scored"])
        return self.preference_gold_queries()

    def base_record(self, seed: int) -> dict[str, Any]:
        """The reference policy's own record (the table's first row)."""
        out = self.dir.run(BASE_METHOD, {}, seed)
        done = read_json_if_any(out.eval)
        if done is not None:
            return done
        reference = self.evaluator.reference
        _, total = count_parameters(reference)
        metrics = self.evaluator.evaluate_policy(reference, seed)
        record = run_record(BASE_METHOD, {}, seed, None, metrics, RunCost.untrained(total))
        write_json(out.eval, record)
        return record
