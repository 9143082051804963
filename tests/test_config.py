"""Configs: YAML round trip, overrides, and error messages that name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from alignlab.config import ExperimentConfig, load_config, save_config, with_settings
from alignlab.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("preset", sorted(p.name for p in (REPO / "configs").glob("*.yaml")))
def test_presets_load_and_round_trip(preset: str, tmp_path: Path) -> None:
    config = load_config(REPO / "configs" / preset)
    save_config(config, tmp_path / "again.yaml")
    assert load_config(tmp_path / "again.yaml") == config


def test_overrides_are_typed_and_nested() -> None:
    config = load_config(None, ["dpo.beta=0.5", "dpo.lr=1e-5", "seeds=[3, 4]", "model.lora.enabled=true"])
    assert config.dpo.beta == 0.5 and config.dpo.lr == 1e-5
    assert config.seeds == [3, 4]
    assert config.model.lora.enabled is True


def test_yaml_exponent_without_dot_is_a_number(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("dpo:\n  lr: 1e-5\n")
    assert load_config(path).dpo.lr == 1e-5


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("dpo:\n  betta: 0.1\n", "dpo.betta", "unknown key"),
        ("dpo:\n  beta: -1\n", "dpo.beta", "must be > 0"),
        ("dpo:\n  loss_type: squared\n", "dpo.loss_type", "must be one of"),
        ("seeds: 3\n", "seeds", "must be a list"),
        ("model:\n  lora:\n    r: many\n", "model.lora.r", "must be an integer"),
        ("methods:\n  - method: dpoo\n", "methods[0].method", "unknown method"),
        (
            "methods:\n  - method: dpo\n    sweep: {kl_coef: [0.1]}\n",
            "methods[0].sweep.kl_coef",
            "not a setting of dpo",
        ),
        ("ppo:\n  batch_size: 30\n  grad_accum_steps: 4\n", "ppo.batch_size", "divisible"),
        ("task: sentiment\n", "task", "must be a mapping"),
        (
            "methods:\n  - method: dpo\nreport:\n  findings:\n    - {id: x, claim: c, source: s, a: {method: ppo}, "
            "b: {method: dpo}}\n",
            "report.findings[0].a.method",
            "not among the compared methods",
        ),
        (
            "methods:\n  - method: dpo\n    sweep: {beta: [0.1]}\nreport:\n  findings:\n    - {id: x, claim: c, "
            "source: s, a: {method: dpo, where: {beta: 0.2}}, b: {method: dpo}}\n",
            "report.findings[0].a.where.beta",
            "does not sweep beta over 0.2",
        ),
        (
            "methods:\n  - method: dpo\n    sweep: {beta: [0.1]}\nreport:\n  findings:\n    - {id: x, claim: c, "
            "source: s, a: {method: dpo, where: {beta: 0.1}}, b: {method: dpo}}\n",
            "report.findings[0].b.where",
            "runs only at the values of its sweep of beta",
        ),
        (
            "methods:\n  - method: dpo\nreport:\n  findings:\n    - {id: x, claim: c, source: s, kind: trend, "
            "a: {method: dpo}, b: {method: dpo}}\n",
            "report.findings[0].sweep",
            "names the swept setting",
        ),
    ],
)
def test_bad_values_name_the_file_and_the_key(tmp_path: Path, text: str, key: str, words: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value)
    assert f"'{key}'" in str(err.value)
    assert words in str(err.value)


def test_invalid_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("dpo:\n  beta: [0.1\n")
    with pytest.raises(ConfigError, match=r"broken.yaml: line \d+"):
        load_config(path)


def test_missing_file_and_bad_override() -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config("no/such.yaml")
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(None, ["dpo.beta"])


def test_with_settings_validates_the_copy() -> None:
    config = ExperimentConfig()
    assert with_settings(config, {"dpo": {"beta": 0.3}}, "sweep").dpo.beta == 0.3
    assert config.dpo.beta == 0.1
    with pytest.raises(ConfigError, match="sweep: key 'dpo.beta'"):
        with_settings(config, {"dpo": {"beta": 0}}, "sweep")


@pytest.mark.parametrize(
    ("name", "kind"), [("ddp", "MULTI_GPU"), ("fsdp2", "FSDP"), ("zero2", "DEEPSPEED"), ("zero3", "DEEPSPEED")]
)
def test_accelerate_configs_load_with_accelerates_own_parser(name: str, kind: str) -> None:
    from accelerate.commands.config.config_args import ClusterConfig

    path = REPO / "configs" / "accelerate" / f"{name}.yaml"
    cluster = ClusterConfig.from_yaml_file(str(path))
    assert cluster.distributed_type.name == kind and cluster.mixed_precision == "bf16"
    if name.startswith("zero"):
        assert cluster.deepspeed_config["zero_stage"] == int(name[-1])
    if name == "fsdp2":
        assert cluster.fsdp_config["fsdp_version"] == 2


def test_an_equal_budget_gives_every_trained_method_the_same_trained_sequences() -> None:
    """budget.sequences sets each method's optimizer steps or iterations so that every trained
    method passes the same number of sequences through a gradient pass."""
    from alignlab.config import method_config
    from alignlab.config.methods import METHODS

    config = load_config(REPO / "configs" / "study.yaml")
    for spec in config.methods:
        method = METHODS[spec.method]
        if method.trainer is None:
            continue
        cfg = method_config(config, spec.method)
        section = getattr(cfg, method.section)
        if method.online:
            per_iteration = section.prompts_per_iteration * method.samples_per_prompt(cfg) * section.update_epochs
            trained = section.iterations * per_iteration
        else:
            trained = section.max_steps * section.batch_size * method.sequences_per_example
        assert trained == config.budget.sequences, spec.method
    # A setting given explicitly wins over the budget's arithmetic, and a comparison refuses one.
    assert method_config(config, "ppo", {"iterations": 3}).ppo.iterations == 3
    with pytest.raises(ConfigError, match="leave max_steps to it"):
        load_config(REPO / "configs" / "study.yaml", ["methods=[{method: dpo, overrides: {max_steps: 2}}]"])
