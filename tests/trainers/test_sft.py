"""SFT: next-token loss on response tokens only, and it falls."""

from __future__ import annotations

import json

import torch

from alignlab.batch import collate
from alignlab.config import ModelConfig
from alignlab.layout import TrainingDir
from alignlab.models import load_causal_lm, load_tokenizer
from alignlab.scoring import PolicyForward
from alignlab.tokenization import encode_response
from alignlab.trainers import TrainInputs, train
from alignlab.trainers.sft import sft_step


def test_loss_counts_response_tokens_only(embedded_dir) -> None:
    config = ModelConfig()
    tokenizer = load_tokenizer(config)
    model = load_causal_lm(config, torch.device("cpu"), trainable=False)
    prompt = tokenizer("I saw it last night and", add_special_tokens=True)["input_ids"]
    response = encode_response(tokenizer, " it was great.").ids
    short = encode_response(tokenizer, " bad", ended=False).ids
    batch = collate([prompt, prompt[:3]], [response, short], tokenizer.pad_token_id)
    with torch.no_grad():
        out = sft_step(PolicyForward(model), batch)
        # The same loss the plain way: cross-entropy summed over the response positions of each sequence.
        plain = 0.0
        for p, r in ((prompt, response), (prompt[:3], short)):
            logits = model(input_ids=torch.tensor([p + r])).logits[0, len(p) - 1 : -1]
            plain += torch.nn.functional.cross_entropy(logits, torch.tensor(r), reduction="sum")
    # The unit is a token: the loop divides the summed loss by all tokens of the step.
    assert out.units == len(response) + len(short)
    assert torch.allclose(out.loss, plain, atol=1e-4)


def test_sft_loss_falls(embedded_dir, pairs, make_config, tmp_path) -> None:
    config = make_config("sft.epochs=2", "sft.batch_size=16", "sft.lr=1e-3")
    train(TrainInputs("sft", config, pairs=pairs[:160]), TrainingDir(tmp_path))
    history = json.loads((tmp_path / "history.json").read_text())
    losses = [row["train/loss"] for row in history["train"]]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3
    assert (tmp_path / "model" / "model.safetensors").is_file()
