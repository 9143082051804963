"""The embedded base model's build: packing, tokenizer, determinism, and the HF round trip."""

from __future__ import annotations

import torch
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, AutoTokenizer

from alignlab.base.pretrain import build_base_model, pack


def test_pack_concatenates_and_drops_the_tail() -> None:
    blocks = pack([[1, 2, 3], [4, 5], [6, 7, 8, 9]], block_size=4)
    assert blocks.tolist() == [[1, 2, 3, 4], [5, 6, 7, 8]]


def test_round_trip_through_from_pretrained(micro_model_dir) -> None:
    tokenizer = AutoTokenizer.from_pretrained(micro_model_dir)
    model = AutoModelForCausalLM.from_pretrained(micro_model_dir, dtype=torch.float32)
    ids = tokenizer("I watched this film last night.")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id
    assert tokenizer.decode(ids, skip_special_tokens=True) == "I watched this film last night."
    assert {tokenizer.pad_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id} == {0, 1, 2}
    assert model.config.model_type == "qwen3" and model.config.eos_token_id == tokenizer.eos_token_id
    assert "你好" in tokenizer.decode(tokenizer("你好")["input_ids"])  # byte-level: nothing is unknown


def test_build_is_deterministic(micro_model_dir, micro_build_config, tmp_path) -> None:
    build_base_model(micro_build_config, tmp_path)
    first = load_file(str(micro_model_dir / "model.safetensors"))
    second = load_file(str(tmp_path / "model.safetensors"))
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert (micro_model_dir / "tokenizer.json").read_text() == (tmp_path / "tokenizer.json").read_text()
