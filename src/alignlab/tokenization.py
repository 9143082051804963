"""Special tokens and truncation, done the way the model was trained.

- A response ends at the first of *every* EOS id the model stops on: the tokenizer's
  ``eos_token_id`` and the ids of the model's generation config (Qwen3 stops on both
  ``<|im_end|>`` and ``<|endoftext|>``, and pads with the latter).
- Over-long prompts keep their last tokens but never lose the special tokens the tokenizer puts
  in front (a BOS the model was pretrained to see first).
- A response cut at the length limit did not end: it gets no EOS, so a reward model and DPO
  learn "unfinished" for it, not "finished".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import NamedTuple

import torch
from torch import nn
from transformers import PreTrainedTokenizerBase


def _as_list(ids: int | Iterable[int] | None) -> list[int]:
    if ids is None:
        return []
    return [int(ids)] if isinstance(ids, int) else [int(i) for i in ids]


def stop_token_ids(model: nn.Module | None, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Every id that ends a response: the tokenizer's EOS first, then the generation config's."""
    ids = _as_list(tokenizer.eos_token_id)
    generation_config = getattr(model, "generation_config", None)
    for token in _as_list(getattr(generation_config, "eos_token_id", None)):
        if token not in ids:
            ids.append(token)
    return ids


def special_prefix(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """The ids the tokenizer puts before any text (a BOS, or nothing)."""
    return tokenizer("", add_special_tokens=True)["input_ids"]


def encode_prompt(tokenizer: PreTrainedTokenizerBase, text: str, max_tokens: int | None = None) -> list[int]:
    """Prompt ids with the tokenizer's special prefix (not twice: a chat template that writes
    the BOS itself gets none added), over-long prompts cut from the left behind that prefix."""
    bos = tokenizer.bos_token
    add_special = not (bos and text.startswith(bos))
    ids = tokenizer(text, add_special_tokens=add_special)["input_ids"]
    if max_tokens is None or len(ids) <= max_tokens:
        return ids
    prefix = special_prefix(tokenizer) if add_special else [tokenizer.bos_token_id]
    keep = len(prefix) if ids[: len(prefix)] == prefix and len(prefix) < max_tokens else 0
    return ids[:keep] + ids[len(ids) - (max_tokens - keep) :]


class EncodedResponse(NamedTuple):
    ids: list[int]
    ended: bool  # whether the ids end with EOS: the response finished and was not cut
    cut: bool  # whether the response lost tokens to ``max_tokens``


def encode_response(
    tokenizer: PreTrainedTokenizerBase, text: str, ended: bool = True, max_tokens: int | None = None
) -> EncodedResponse:
    """Response ids followed by EOS when the response ended, cut to ``max_tokens`` (a cut
    response loses its EOS: it did not finish)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"] + ([tokenizer.eos_token_id] if ended else [])
    if max_tokens is not None and len(ids) > max_tokens:
        return EncodedResponse(ids[:max_tokens], False, True)
    return EncodedResponse(ids, ended, False)


def response_mask_from_ids(response_ids: torch.Tensor, stop_ids: Sequence[int], pad_token_id: int) -> torch.Tensor:
    """1 for response tokens up to and including the first stop id, 0 after it (``(B, R)`` long).

    A row that never stops is padded with ``pad_token_id`` by ``generate`` once the batch's other
    rows are done; when pad is not itself a stop id, the first pad also ends the row's tokens.
    """
    is_stop = torch.isin(response_ids, torch.tensor(list(stop_ids), device=response_ids.device))
    after_stop = (is_stop.long().cumsum(-1) - is_stop.long()) > 0
    mask = ~after_stop
    if pad_token_id not in stop_ids:
        mask &= (response_ids != pad_token_id).long().cumprod(-1).bool()
    return mask.long()


def ended_with_stop(response_ids: torch.Tensor, response_mask: torch.Tensor, stop_ids: Sequence[int]) -> torch.Tensor:
    """``(B,)`` True where the response's last real token is a stop id."""
    last = (response_mask.sum(-1) - 1).clamp(min=0)
    last_token = response_ids.gather(1, last.unsqueeze(1)).squeeze(1)
    is_stop = torch.isin(last_token, torch.tensor(list(stop_ids), device=response_ids.device))
    return is_stop & (response_mask.sum(-1) > 0)
