"""alignlab's config schema: pydantic dataclasses with help text, the one source for YAML
presets, ``--set`` overrides, the Python API and ``alignlab config show``.

``ExperimentConfig`` describes a whole run: model, task, preference data, sampling, every trainer
and the comparison's methods. ``alignlab compare`` uses all of it, ``alignlab train dpo`` only the
parts it needs. Loading is strict: an unknown key, a value of the wrong type or one out of range
is a ``ConfigError`` whose message names the file and the dotted key.
"""

from alignlab.config.experiment import BestOfNConfig, BudgetConfig, ExperimentConfig, MethodSpec, TuningConfig
from alignlab.config.io import (
    default_config_path,
    describe,
    dump_config,
    from_dict,
    load_config,
    merge,
    method_config,
    parse_overrides,
    read_yaml,
    save_config,
    to_dict,
    with_settings,
)
from alignlab.config.methods import METHODS, Method
from alignlab.config.sections import (
    AdapterConfig,
    EvalConfig,
    ModelConfig,
    PreferenceConfig,
    ReportConfig,
    SamplingConfig,
    TaskConfig,
)
from alignlab.config.trainers import (
    BaseBuildConfig,
    DPOFamilyConfig,
    KTOConfig,
    OfflineTrainConfig,
    OnlineDPOConfig,
    OnlineTrainConfig,
    PolicyGradientConfig,
    PPOConfig,
    ReinforcePPConfig,
    RewardModelConfig,
    RLOOConfig,
    SFTConfig,
    TrainConfig,
)

__all__ = [
    "METHODS",
    "Method",
    "AdapterConfig",
    "BaseBuildConfig",
    "BestOfNConfig",
    "BudgetConfig",
    "DPOFamilyConfig",
    "EvalConfig",
    "ExperimentConfig",
    "KTOConfig",
    "MethodSpec",
    "ModelConfig",
    "OfflineTrainConfig",
    "OnlineDPOConfig",
    "OnlineTrainConfig",
    "PPOConfig",
    "PolicyGradientConfig",
    "PreferenceConfig",
    "RLOOConfig",
    "ReinforcePPConfig",
    "ReportConfig",
    "RewardModelConfig",
    "SFTConfig",
    "SamplingConfig",
    "TaskConfig",
    "TrainConfig",
    "TuningConfig",
    "default_config_path",
    "describe",
    "dump_config",
    "from_dict",
    "load_config",
    "merge",
    "method_config",
    "parse_overrides",
    "read_yaml",
    "save_config",
    "to_dict",
    "with_settings",
]
