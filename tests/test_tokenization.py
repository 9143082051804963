"""Special tokens the way the model was trained: every EOS id, the BOS kept on truncation, no
EOS on a cut response."""

from __future__ import annotations

import torch
from transformers import GenerationConfig

from alignlab.config import ModelConfig
from alignlab.data import PreferencePair, tokenize_pairs
from alignlab.models import load_tokenizer
from alignlab.tokenization import encode_prompt, encode_response, ended_with_stop, stop_token_ids


class _Model:
    def __init__(self, eos) -> None:
        self.generation_config = GenerationConfig(eos_token_id=eos)


def test_stop_ids_join_the_tokenizer_and_the_generation_config(embedded_dir) -> None:
    tokenizer = load_tokenizer(ModelConfig())
    eos = tokenizer.eos_token_id
    assert stop_token_ids(_Model([eos + 1, eos]), tokenizer) == [eos, eos + 1]
    assert stop_token_ids(_Model(None), tokenizer) == [eos]
    assert stop_token_ids(None, tokenizer) == [eos]


def test_left_truncation_keeps_the_bos(embedded_dir) -> None:
    tokenizer = load_tokenizer(ModelConfig())
    text = "I watched this film last night and it was a long one"
    full = encode_prompt(tokenizer, text)
    assert full[0] == tokenizer.bos_token_id
    cut = encode_prompt(tokenizer, text, max_tokens=5)
    assert len(cut) == 5 and cut[0] == tokenizer.bos_token_id and cut[1:] == full[-4:]
    # A prompt that already starts with the BOS (a chat template's output) gets no second one.
    twice = encode_prompt(tokenizer, tokenizer.bos_token + text)
    assert twice.count(tokenizer.bos_token_id) == 1


def test_a_cut_response_loses_its_eos(embedded_dir) -> None:
    tokenizer = load_tokenizer(ModelConfig())
    ids, ended, _ = encode_response(tokenizer, " it was a great film", ended=True)
    assert ids[-1] == tokenizer.eos_token_id and ended
    cut, still_ended, was_cut = encode_response(tokenizer, " it was a great film", ended=True, max_tokens=2)
    assert len(cut) == 2 and tokenizer.eos_token_id not in cut and not still_ended and was_cut
    unfinished, flag, _ = encode_response(tokenizer, " it was", ended=False)
    assert tokenizer.eos_token_id not in unfinished and not flag


def test_an_unfinished_response_cut_again_counts_as_cut(embedded_dir) -> None:
    """A response that was already unfinished (no EOS) and is cut at the limit lost tokens all
    the same: task.overlong: skip must drop its pair, truncate must count it."""
    tokenizer = load_tokenizer(ModelConfig())
    long_text = " it was a great film and the acting was superb from start to end"
    assert encode_response(tokenizer, long_text, ended=False, max_tokens=3).cut
    assert not encode_response(tokenizer, " it was", ended=False, max_tokens=30).cut
    pair = PreferencePair("The film", long_text, " bad", chosen_ended=False)
    _, skipped = tokenize_pairs(tokenizer, [pair], 64, 3, overlong="skip")
    _, truncated = tokenize_pairs(tokenizer, [pair], 64, 3, overlong="truncate")
    assert (skipped.skipped, skipped.kept) == (1, 0)
    assert (truncated.truncated, truncated.kept) == (1, 1)


def test_ended_with_stop_reads_the_last_real_token() -> None:
    ids = torch.tensor([[4, 9, 0], [4, 5, 6], [8, 0, 0]])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1], [0, 0, 0]])
    assert ended_with_stop(ids, mask, [9, 6]).tolist() == [True, True, False]
