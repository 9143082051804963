"""SFT: next-token loss on response tokens only, and it falls."""

from __future__ import annotations

import json

import torch

from alignlab.config import ModelConfig
from alignlab.data import collate_responses, encode_response
from alignlab.losses import masked_mean
from alignlab.models import load_causal_lm, load_tokenizer
from alignlab.rollout import score_responses
from alignlab.trainers.sft import train_sft


def test_loss_counts_response_tokens_only(embedded_dir) -> None:
    config = ModelConfig()
    tokenizer = load_tokenizer(config)
    model = load_causal_lm(config, torch.device("cpu"), trainable=False)
    prompt = tokenizer("I saw it last night and", add_special_tokens=True)["input_ids"]
    response = encode_response(tokenizer, " it was great.")
    batch = collate_responses([prompt, prompt[:3]], [response, response], tokenizer.pad_token_id)
    with torch.no_grad():
        scores = score_responses(
            model, batch["prompt_ids"], batch["prompt_mask"], batch["response_ids"], batch["response_mask"]
        )
        # The same loss computed the plain way: cross-entropy over the response positions of the full sequence.
        ids = torch.tensor([prompt + response])
        logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1]
        plain = torch.nn.functional.cross_entropy(logits, torch.tensor(response))
    nll = masked_mean(-scores.logprobs[:1], batch["response_mask"][:1].float())
    assert torch.allclose(nll, plain, atol=1e-4)


def test_sft_loss_falls(embedded_dir, pairs, make_config, tmp_path) -> None:
    config = make_config("sft.epochs=2", "sft.batch_size=16", "sft.lr=1e-3")
    demonstrations = [(p.prompt, p.chosen) for p in pairs[:160]]
    train_sft(config, demonstrations, tmp_path, seed=0)
    history = json.loads((tmp_path / "history.json").read_text())
    losses = [row["train/loss"] for row in history["train"]]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    assert (tmp_path / "model" / "model.safetensors").is_file()
