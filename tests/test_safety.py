"""Safe loading: no remote code unless asked, safetensors only, weights-only torch.load, safe YAML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from alignlab.config import ExperimentConfig, ModelConfig
from alignlab.errors import ModelLoadError
from alignlab.models import load_causal_lm

SRC = Path(__file__).resolve().parents[1] / "src" / "alignlab"


def test_remote_code_is_off_by_default_and_safetensors_required(monkeypatch, embedded_dir) -> None:
    assert ExperimentConfig().model.trust_remote_code is False
    seen = {}
    real = AutoModelForCausalLM.from_pretrained

    def spy(*args, **kwargs):
        seen.update(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(AutoModelForCausalLM, "from_pretrained", spy)
    load_causal_lm(ModelConfig(), torch.device("cpu"), trainable=False)
    assert seen["trust_remote_code"] is False and seen["use_safetensors"] is True


def test_pickled_weights_are_refused(tmp_path, embedded_dir) -> None:
    model = AutoModelForCausalLM.from_pretrained(embedded_dir)
    model.config.save_pretrained(tmp_path)
    torch.save(model.state_dict(), tmp_path / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match=str(tmp_path)):
        load_causal_lm(ModelConfig(name_or_path=str(tmp_path)), torch.device("cpu"))


def test_no_unsafe_loading_in_the_package() -> None:
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        # yaml.load only with a safe loader picked in the same module (SafeLoader or libyaml's CSafeLoader).
        for call in re.findall(r"yaml\.load\([^)]*\)", text):
            loader = re.search(r"Loader=(\w+)", call)
            assert loader is not None, (path, call)
            assert re.search(rf"{loader.group(1)} = getattr\(yaml, \"CSafeLoader\", yaml\.SafeLoader\)", text) or (
                loader.group(1) in ("SafeLoader", "CSafeLoader")
            ), (path, call)
        assert "yaml.unsafe_load" not in text and "yaml.full_load" not in text, path
        for call in re.findall(r"torch\.load\([^)]*\)", text):
            assert "weights_only=True" in call, (path, call)
        assert "trust_remote_code=True" not in text, path
