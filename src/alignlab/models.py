"""Loading policies, references, reward models, value heads and tokenizers.

Everything goes through the Hugging Face ``Auto*`` classes, from a hub id or a local directory,
weights from safetensors only, ``trust_remote_code`` off unless the config asks for it.
"""

from __future__ import annotations

import contextlib
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

from alignlab.config import LoraConfig, ModelConfig
from alignlab.errors import ModelLoadError

VALUE_HEAD_FILE = "value_head.safetensors"
REWARD_NORM_FILE = "reward_normalization.json"


def resolve_model_path(name_or_path: str) -> str:
    """'embedded' or 'embedded-zh' -> the directory of one of alignlab's own base models;
    anything else (a hub id or a local directory) is returned as is."""
    from alignlab.base import EMBEDDED_MODELS, embedded_model_dir

    if name_or_path in EMBEDDED_MODELS:
        return str(embedded_model_dir(name_or_path))
    return name_or_path


def select_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """float32 on CPU; bfloat16 on a GPU that has it, else float16 (for 'auto')."""
    if dtype != "auto":
        return getattr(torch, dtype)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def _load_error(kind: str, name_or_path: str, err: Exception) -> ModelLoadError:
    local = Path(name_or_path)
    if local.exists() or name_or_path.startswith((".", "/", "~")):
        where = f"directory '{name_or_path}'" if local.exists() else f"path '{name_or_path}' (it does not exist)"
    else:
        where = f"hub id '{name_or_path}' (not in the local cache, and the hub is unreachable or offline)"
    first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return ModelLoadError(f"cannot load {kind} from {where}: {first_line}")


def load_tokenizer(config: ModelConfig, name_or_path: str | None = None) -> PreTrainedTokenizerBase:
    """The tokenizer with a pad token and left padding (prompts are left-padded for generation)."""
    path = resolve_model_path(name_or_path or config.name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=config.trust_remote_code)
    except (OSError, ValueError, KeyError) as err:
        raise _load_error("tokenizer", path, err) from None
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise ModelLoadError(f"tokenizer of '{path}' has neither a pad nor an eos token")
        tokenizer.pad_token = tokenizer.eos_token
    if tokenizer.eos_token is None:
        raise ModelLoadError(f"tokenizer of '{path}' has no eos token; responses could never end")
    tokenizer.padding_side = "left"
    return tokenizer


def load_causal_lm(
    config: ModelConfig, device: torch.device, name_or_path: str | None = None, trainable: bool = True
) -> PreTrainedModel:
    """A causal LM from ``name_or_path`` (default: the configured base), on ``device``."""
    path = resolve_model_path(name_or_path or config.name_or_path)
    try:
        model = AutoModelForCausalLM.from_pretrained(
            path,
            dtype=select_dtype(config.dtype, device),
            trust_remote_code=config.trust_remote_code,
            use_safetensors=True,
        )
    except (OSError, ValueError, KeyError) as err:
        raise _load_error("model", path, err) from None
    model.to(device)
    if trainable:
        model.train()
        if config.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.config.use_cache = False
    else:
        freeze(model)
    return model


def disable_dropout(model: nn.Module) -> nn.Module:
    """Zero every dropout: with dropout on, the log-probs of the same tokens differ between the
    forward that records them and the one that trains on them, biasing the PPO ratio and the
    DPO log-ratios."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    return model


def freeze(model: nn.Module) -> nn.Module:
    model.eval()
    model.requires_grad_(False)
    return model


def add_lora(model: PreTrainedModel, lora: LoraConfig) -> nn.Module:
    """Wrap ``model`` with a fresh LoRA adapter; only the adapter's weights train."""
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model

    peft_config = PeftLoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_modules,
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, peft_config)


def load_policy(config: ModelConfig, device: torch.device, name_or_path: str | None = None) -> nn.Module:
    """The trainable policy: the base model, wrapped with LoRA if the config asks for it."""
    model = disable_dropout(load_causal_lm(config, device, name_or_path, trainable=True))
    if config.lora.enabled:
        model = add_lora(model, config.lora)
    return model


def is_peft(model: nn.Module) -> bool:
    return hasattr(model, "disable_adapter") and hasattr(model, "peft_config")


def load_reference(
    config: ModelConfig, device: torch.device, policy: nn.Module, name_or_path: str | None = None
) -> nn.Module | None:
    """A frozen copy of the base policy, or None when the policy is a LoRA adapter: then the
    reference is the same weights with the adapter disabled (see ``reference_mode``), no second copy."""
    if is_peft(policy):
        return None
    return load_causal_lm(config, device, name_or_path, trainable=False)


@contextlib.contextmanager
def reference_mode(policy: nn.Module, reference: nn.Module | None) -> Iterator[nn.Module]:
    """Yield the module that computes reference log-probs."""
    if reference is not None:
        yield reference
        return
    with policy.disable_adapter():
        yield policy


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total


# --------------------------------------------------------------------------------------------
# Reward model and value head
# --------------------------------------------------------------------------------------------


def load_reward_model(
    config: ModelConfig, device: torch.device, name_or_path: str, trainable: bool = False
) -> PreTrainedModel:
    """A sequence classifier with one output (the score). From a causal LM checkpoint the score
    head starts fresh on top of the LM's backbone; from a saved reward model it is restored."""
    path = resolve_model_path(name_or_path)
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            path,
            num_labels=1,
            dtype=select_dtype(config.dtype, device),
            trust_remote_code=config.trust_remote_code,
            use_safetensors=True,
        )
    except (OSError, ValueError, KeyError) as err:
        raise _load_error("reward model", path, err) from None
    if model.config.pad_token_id is None:
        tokenizer = load_tokenizer(config, path)
        model.config.pad_token_id = tokenizer.pad_token_id
    model.to(device)
    return model.train() if trainable else freeze(model)


def backbone(model: PreTrainedModel) -> nn.Module:
    """The transformer trunk under a task head (``model.model`` for Qwen/Llama-style models)."""
    return getattr(model, model.base_model_prefix)


def save_reward_normalization(directory: str | Path, mean: float, std: float) -> None:
    Path(directory, REWARD_NORM_FILE).write_text(json.dumps({"mean": mean, "std": std}), encoding="utf-8")


def load_reward_normalization(directory: str | Path) -> tuple[float, float]:
    """(mean, std) that standardise the reward model's score; (0, 1) when none was saved."""
    path = Path(directory, REWARD_NORM_FILE)
    if not path.is_file():
        return 0.0, 1.0
    stats = json.loads(path.read_text(encoding="utf-8"))
    return float(stats["mean"]), float(stats["std"])


class ValueHead(nn.Module):
    """Linear map from the last hidden state to a scalar value per token."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.summary = nn.Linear(hidden_size, 1)
        # Start near zero so early value errors do not swamp the policy gradient.
        nn.init.normal_(self.summary.weight, std=1.0 / (hidden_size + 1))
        nn.init.zeros_(self.summary.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.summary(hidden).squeeze(-1)

    def init_from_score_head(self, score: nn.Linear, mean: float, std: float) -> None:
        """Copy a reward model's (bias-free) score head, folding in its normalisation."""
        with torch.no_grad():
            self.summary.weight.copy_(score.weight.to(self.summary.weight.dtype) / std)
            bias = score.bias if getattr(score, "bias", None) is not None else torch.zeros(1)
            self.summary.bias.copy_(((bias - mean) / std).to(self.summary.bias.dtype))


def hidden_size_of(model: nn.Module) -> int:
    config = model.config if hasattr(model, "config") else model.get_base_model().config
    return int(getattr(config, "hidden_size", None) or config.get_text_config().hidden_size)


def tie_pad_token(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> None:
    """Make the model's generation and pooling agree with the tokenizer about padding."""
    model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id


class PolicyWithValue(nn.Module):
    """A causal LM and a value head on its last hidden state: logits and values in one forward."""

    def __init__(self, policy: nn.Module, value_head: ValueHead) -> None:
        super().__init__()
        self.policy = policy
        self.value_head = value_head

    def forward(self, logits_to_keep: int = 0, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.policy(output_hidden_states=True, logits_to_keep=logits_to_keep, **kwargs)
        hidden = out.hidden_states[-1]
        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:]
        return out.logits, self.value_head(hidden.to(self.value_head.summary.weight.dtype)).float()


class PolicyAndCritic(nn.Module):
    """A causal LM and a separate critic (a sequence classifier whose head is applied per token):
    two trunks, one module, so one optimizer and one ``prepare`` serve both."""

    def __init__(self, policy: nn.Module, critic: PreTrainedModel) -> None:
        super().__init__()
        if not isinstance(getattr(critic, "score", None), nn.Linear):
            raise ModelLoadError(f"critic {type(critic).__name__} has no linear 'score' head to apply per token")
        self.policy = policy
        self.critic = critic

    def forward(self, logits_to_keep: int = 0, **kwargs) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.policy(logits_to_keep=logits_to_keep, **kwargs).logits
        kwargs.pop("use_cache", None)
        hidden = backbone(self.critic)(**kwargs).last_hidden_state
        if logits_to_keep:
            hidden = hidden[:, -logits_to_keep:]
        return logits, self.critic.score(hidden).squeeze(-1).float()
