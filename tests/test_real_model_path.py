"""The code path a GPU user runs with Qwen/Qwen3-0.6B (the qwen3-0.6b presets), offline on a
tiny randomly initialised model of the same architecture saved with ``save_pretrained``:
gradient checkpointing, LoRA on and off (the reference is the adapter disabled), PPO's value head
on the shared trunk, and a chat template."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen3Config

from alignlab.config import load_config
from alignlab.data import PreferencePair
from alignlab.tasks import load_task
from alignlab.trainers.dpo import train_dpo
from alignlab.trainers.ppo import train_ppo

REPO = Path(__file__).resolve().parents[1]
CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture(scope="module")
def tiny_qwen3(tmp_path_factory, embedded_dir) -> Path:
    """Qwen3-0.6B's architecture (tied embeddings, GQA, q/k norms), shrunk, with the embedded
    tokenizer and a ChatML chat template, saved as a local checkpoint."""
    out = tmp_path_factory.mktemp("tiny-qwen3")
    tokenizer = AutoTokenizer.from_pretrained(embedded_dir)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
    tokenizer.chat_template = CHATML
    reference = Qwen3Config.from_pretrained(embedded_dir)
    config = Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
        tie_word_embeddings=True,
        max_position_embeddings=512,
        bos_token_id=reference.bos_token_id,
        eos_token_id=reference.eos_token_id,
        pad_token_id=reference.pad_token_id,
    )
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def preset(model_dir: Path, *overrides: str):
    return load_config(
        REPO / "configs" / "qwen3-0.6b.yaml",
        [
            f"model.name_or_path={model_dir}",
            "model.dtype=float32",
            "task.name=sentiment",
            "task.num_train_prompts=32",
            "task.num_eval_prompts=8",
            *overrides,
        ],
    )


PAIRS = [
    PreferencePair(f"Review {i}: the film", " was wonderful and moving.", " was dull and far too long.")
    for i in range(16)
]


@pytest.mark.parametrize("lora", [False, True])
def test_one_dpo_step(tiny_qwen3, tmp_path, lora) -> None:
    config = preset(tiny_qwen3, f"model.lora.enabled={str(lora).lower()}", "dpo.max_steps=1", "dpo.batch_size=8")
    assert config.model.gradient_checkpointing
    summary = train_dpo(config, PAIRS, tmp_path, seed=0)
    assert summary["steps"] == 1 and math.isfinite(summary["final_eval"]["eval/loss"])
    assert (tmp_path / "adapter").is_dir() == lora
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "model") is not None


@pytest.mark.parametrize("lora", [False, True])
def test_one_ppo_iteration(tiny_qwen3, tmp_path, lora) -> None:
    config = preset(
        tiny_qwen3,
        f"model.lora.enabled={str(lora).lower()}",
        "ppo.reward_source=gold",
        "ppo.iterations=1",
        "ppo.prompts_per_iteration=8",
        "ppo.batch_size=8",
        "generation.max_new_tokens=8",
    )
    task = load_task(config.task)
    summary = train_ppo(config, task.train_prompts, task.reward, tmp_path, seed=0)
    history = json.loads((tmp_path / "history.json").read_text())["train"]
    assert all(math.isfinite(v) for v in history[0].values())
    # With LoRA the reference is the same weights with the adapter off: one model in memory.
    assert summary["cost"]["models_in_memory"] == (1 if lora else 2)
    assert (tmp_path / "model" / "value_head.safetensors").is_file()


def test_chat_template_formats_conversational_prompts(tiny_qwen3) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen3)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    ids = tokenizer(prompt)["input_ids"]
    assert tokenizer.convert_tokens_to_ids("<|im_start|>") in ids
