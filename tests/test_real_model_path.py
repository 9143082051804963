"""The code path a GPU user runs with Qwen/Qwen3-0.6B (the qwen3-0.6b presets), offline on
randomly initialised models of the same architecture saved with ``save_pretrained``: gradient
checkpointing, LoRA on and off (the reference is the adapter disabled), a chat template, and
Qwen3's conventions: its special-token layout at its real ids (two EOS ids, pad = <|endoftext|>,
no BOS), a bfloat16 checkpoint whose trainable copy must stay float32, and its 151,936-token
vocabulary."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, Qwen3Config

from alignlab.config import load_config
from alignlab.data import PreferencePair
from alignlab.layout import TrainingDir
from alignlab.tasks import load_task
from alignlab.trainers import TrainInputs, train
from tests.fixtures.qwen3 import CHATML, ENDOFTEXT, IM_END, QWEN3_VOCAB, save_qwen3

# Built once, on one pytest-xdist worker: the saved Qwen3-shaped checkpoints the tests share.
pytestmark = pytest.mark.xdist_group("real-model-path")

REPO = Path(__file__).resolve().parents[1]


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
            "task.num_test_prompts=8",
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
    summary = train(TrainInputs("dpo", config, pairs=PAIRS), TrainingDir(tmp_path))
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
    summary = train(
        TrainInputs("ppo-gt", config, prompts=task.train_prompts, gold_reward=task.reward), TrainingDir(tmp_path)
    )
    history = json.loads((tmp_path / "history.json").read_text())["train"]
    assert all(math.isfinite(v) for v in history[0].values())
    # Policy, reference and PPO-GT's separate critic; with LoRA the reference is the same
    # weights with the adapter off.
    assert summary["cost"]["models_in_memory"] == (2 if lora else 3)


def test_chat_template_formats_conversational_prompts(tiny_qwen3) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen3)
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    ids = tokenizer(prompt)["input_ids"]
    assert tokenizer.convert_tokens_to_ids("<|im_start|>") in ids


@pytest.fixture(scope="module")
def qwen3_layout(tmp_path_factory) -> Path:
    """A 2-layer Qwen3 with Qwen3's vocabulary size, special-token ids (eos <|im_end|>, pad
    <|endoftext|>, no BOS) and generation config (stops on both), in bfloat16 as the hub's."""
    return save_qwen3(
        tmp_path_factory.mktemp("qwen3-layout"),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        head_dim=16,
    )


def test_special_tokens_follow_the_model(qwen3_layout) -> None:
    from alignlab.config import ModelConfig
    from alignlab.models import load_causal_lm, load_tokenizer
    from alignlab.tokenization import encode_prompt, stop_token_ids

    config = ModelConfig(name_or_path=str(qwen3_layout))
    tokenizer = load_tokenizer(config)
    model = load_causal_lm(config, torch.device("cpu"), trainable=False)
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    assert stop_token_ids(model, tokenizer) == [eos, pad]  # <|im_end|> first, then <|endoftext|>
    # No BOS: nothing is prepended, and truncation keeps the prompt's end.
    assert encode_prompt(tokenizer, "I saw the film") == tokenizer("I saw the film")["input_ids"]
    full = tokenizer("I saw the film and it was good")["input_ids"]
    assert encode_prompt(tokenizer, "I saw the film and it was good", max_tokens=3) == full[-3:]
    assert (eos, pad) == (IM_END, ENDOFTEXT)


class _ScriptedModel(torch.nn.Module):
    """Stands in for a causal LM whose ``generate`` returns fixed continuations."""

    def __init__(self, generation_config, continuations: torch.Tensor) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))
        self.generation_config = generation_config
        self.continuations = continuations

    def generate(self, input_ids, **kwargs):
        return torch.cat([input_ids, self.continuations[: input_ids.shape[0]]], dim=1)


def test_a_response_ending_with_endoftext_has_ended(qwen3_layout) -> None:
    from transformers import GenerationConfig

    from alignlab.config import ModelConfig, SamplingConfig
    from alignlab.models import load_tokenizer
    from alignlab.rollout import sample, tokenize_prompts

    tokenizer = load_tokenizer(ModelConfig(name_or_path=str(qwen3_layout)))
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    # Row 0 ends with <|im_end|>, row 1 with <|endoftext|> (then padding), row 2 never ends.
    continuations = torch.tensor([[1, 2, eos, pad], [3, pad, pad, pad], [1, 2, 3, 4]])
    model = _ScriptedModel(GenerationConfig(eos_token_id=[eos, pad]), continuations)
    ids, mask = tokenize_prompts(tokenizer, ["I saw", "the film", "it was"])
    rollout = sample(model, tokenizer, ids, mask, SamplingConfig(max_new_tokens=4))
    assert rollout.ended.tolist() == [True, True, False]
    assert rollout.response_mask.sum(-1).tolist() == [3, 2, 4]
    assert float(rollout.ended.float().mean()) == pytest.approx(2 / 3)


def test_bfloat16_checkpoint_trains_in_float32(qwen3_layout) -> None:
    from alignlab.config import ModelConfig
    from alignlab.models import load_policy, load_reference

    config = ModelConfig(name_or_path=str(qwen3_layout), dtype="bfloat16")
    policy = load_policy(config, torch.device("cpu"))
    assert {p.dtype for p in policy.parameters()} == {torch.float32}
    # The reference is stored as the policy is, not in the frozen dtype: the two must agree before
    # the first update (tests/trainers/test_step_zero.py).
    assert {p.dtype for p in load_reference(config, torch.device("cpu"), policy).parameters()} == {torch.float32}
    # One AdamW step at DPO's preset learning rate moves almost every weight of the float32 copy;
    # on bfloat16 weights of this scale it would move about 1 % of them.
    weights = policy.model.layers[0].mlp.up_proj.weight
    before = weights.detach().clone()
    optimizer = torch.optim.AdamW([weights], lr=5e-7)
    weights.grad = torch.randn_like(weights)
    optimizer.step()
    assert (weights.detach() != before).float().mean() > 0.99
    bf16 = before.to(torch.bfloat16)
    assert ((bf16 - 5e-7 * torch.sign(weights.grad).to(torch.bfloat16)) != bf16).float().mean() < 0.2


def test_lora_keeps_the_frozen_base_in_its_dtype_and_the_adapter_in_float32(qwen3_layout) -> None:
    from alignlab.config import ModelConfig
    from alignlab.models import load_policy, load_reference

    config = ModelConfig(name_or_path=str(qwen3_layout), dtype="bfloat16", lora={"enabled": True, "r": 4})
    policy = load_policy(config, torch.device("cpu"))
    trainable = {p.dtype for p in policy.parameters() if p.requires_grad}
    frozen = {p.dtype for n, p in policy.named_parameters() if not p.requires_grad and "lora" not in n}
    assert trainable == {torch.float32} and frozen == {torch.bfloat16}
    assert load_reference(config, torch.device("cpu"), policy) is None


def test_scoring_at_the_real_vocabulary_never_holds_full_logits(qwen3_layout) -> None:
    from alignlab import scoring
    from alignlab.batch import collate
    from alignlab.config import ModelConfig
    from alignlab.models import load_causal_lm

    model = load_causal_lm(ModelConfig(name_or_path=str(qwen3_layout)), torch.device("cpu"), trainable=True)
    # 256 rows x 151,936 logits per chunk on a CPU: 155 MB, against 1.9 GB for a (64, 48) block.
    assert scoring.chunk_rows(QWEN3_VOCAB, torch.device("cpu")) == 256
    batch = collate([[1, 2, 3]] * 4, [[4, 5, 6, IM_END]] * 4, ENDOFTEXT)
    seen = []
    head = model.get_output_embeddings()
    handle = head.register_forward_hook(lambda module, args, out: seen.append(out.shape))
    scores = scoring.PolicyForward(model)(batch)
    handle.remove()
    assert scores.logprobs.shape == (4, 4) and all(shape[0] <= 256 and len(shape) == 2 for shape in seen)
    # Only response tokens went through the head: 16 rows, no prompt or padding position.
    assert sum(shape[0] for shape in seen) == 16


def _one_adamw_step(model_dir: Path, trainable_dtype: str, mixed_precision: str, tmp_path: Path) -> tuple:
    """(weights before, after, dtypes seen in the forward's matmuls) of one AdamW step at lr 1e-6
    on a next-token loss, through alignlab's accelerator and optimizer."""
    from alignlab.batch import collate
    from alignlab.config import ModelConfig, TrainConfig
    from alignlab.models import load_policy
    from alignlab.optim import build_optimizer, create_accelerator
    from alignlab.scoring import PolicyForward

    train = TrainConfig(lr=1e-6, mixed_precision=mixed_precision)
    accelerator = create_accelerator(train, tmp_path / f"{trainable_dtype}-{mixed_precision}", seed=0)
    policy = load_policy(ModelConfig(name_or_path=str(model_dir), trainable_dtype=trainable_dtype), torch.device("cpu"))
    weights = policy.model.layers[0].mlp.up_proj.weight
    before = weights.detach().float().clone()
    seen = []
    policy.model.layers[0].mlp.up_proj.register_forward_hook(lambda m, args, out: seen.append(out.dtype))
    model, optimizer = accelerator.prepare(PolicyForward(policy), build_optimizer(policy, train))
    batch = collate([[1, 2, 3, 4]] * 4, [[5, 6, 7, 8, IM_END]] * 4, ENDOFTEXT)
    loss = -model(batch).logprobs.sum() / 20
    accelerator.backward(loss)
    optimizer.step()
    return before, weights.detach().float().clone(), set(seen)


def test_bf16_mixed_precision_steps_like_float32_and_pure_bf16_does_not(qwen3_layout, tmp_path) -> None:
    before, full, full_dtypes = _one_adamw_step(qwen3_layout, "float32", "no", tmp_path)
    _, mixed, mixed_dtypes = _one_adamw_step(qwen3_layout, "float32", "bf16", tmp_path)
    pure_before, pure, _ = _one_adamw_step(qwen3_layout, "bfloat16", "no", tmp_path)
    # Mixed precision computes in bf16 (autocast on the CPU too) over float32 master weights.
    assert full_dtypes == {torch.float32} and mixed_dtypes == {torch.bfloat16}
    full_step, mixed_step = full - before, mixed - before
    assert (full_step != 0).float().mean() > 0.99 and (mixed_step != 0).float().mean() > 0.99
    # The first AdamW step is lr * sign(gradient): bf16 gradients flip the sign of a few small ones.
    assert float((mixed_step - full_step).norm() / full_step.norm()) < 0.2
    assert float((mixed_step.sign() == full_step.sign()).float().mean()) > 0.98
    # Pure bf16: a step of 1e-6 is far below the resolution of weights of scale 0.02 (about 1e-4);
    # it rounds away except on the few weights within about 2.5e-4 of zero.
    assert (pure != pure_before).float().mean() < 0.05


def test_rollouts_keep_no_vocabulary_sized_tensor(qwen3_layout) -> None:
    import dataclasses

    from alignlab.config import ModelConfig, SamplingConfig
    from alignlab.models import load_causal_lm, load_tokenizer
    from alignlab.rollout import generate

    config = ModelConfig(name_or_path=str(qwen3_layout))
    tokenizer = load_tokenizer(config)
    model = load_causal_lm(config, torch.device("cpu"), trainable=False)
    rollout = generate(model, tokenizer, ["I saw the film", "it was"], 2, SamplingConfig(max_new_tokens=6), None)
    shapes = {f.name: tuple(getattr(rollout, f.name).shape) for f in dataclasses.fields(rollout)}
    assert all(len(shape) <= 2 and QWEN3_VOCAB not in shape for shape in shapes.values()), shapes
    assert shapes["response_ids"][0] == 4


def test_the_seed_task_uses_the_chat_template_of_a_chat_model(qwen3_layout, embedded_dir) -> None:
    from alignlab.config import TaskConfig
    from alignlab.models import resolve_model_path
    from alignlab.tasks import load_task

    chat = load_task(TaskConfig(name="seed"), AutoTokenizer.from_pretrained(qwen3_layout))
    assert all(p.startswith("<|im_start|>user\n") and p.endswith("<|im_start|>assistant\n") for p in chat.test_prompts)
    # A base model without a template (embedded-zh) continues the raw prompt, as does "never".
    raw = load_task(TaskConfig(name="seed"), AutoTokenizer.from_pretrained(resolve_model_path("embedded-zh")))
    never = load_task(TaskConfig(name="seed", chat_template="never"), AutoTokenizer.from_pretrained(qwen3_layout))
    assert raw.test_prompts == never.test_prompts and "<|im_start|>" not in raw.test_prompts[0]
    assert [p.split("\n")[1].removesuffix("<|im_end|>") for p in chat.test_prompts] == raw.test_prompts


def test_training_at_the_real_vocabulary_recomputes_logits_rather_than_keeping_them(qwen3_layout) -> None:
    from alignlab import scoring
    from alignlab.batch import collate
    from alignlab.config import ModelConfig
    from alignlab.models import load_causal_lm

    model = load_causal_lm(ModelConfig(name_or_path=str(qwen3_layout)), torch.device("cpu"), trainable=True)
    # 8 x 64 response tokens: their float32 logits would take 311 MB.
    batch = collate([[1, 2, 3]] * 8, [[4, 5, 6, 7] * 16] * 8, ENDOFTEXT)
    calls = []
    hook = model.get_output_embeddings().register_forward_hook(lambda m, args, out: calls.append(out.shape[0]))
    scores = scoring.PolicyForward(model)(batch)
    scores.logprobs.sum().backward()
    hook.remove()
    # Two chunks of 256 rows, each computed in forward and again in backward.
    assert calls == [256, 256, 256, 256]
