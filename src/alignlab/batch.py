"""alignlab's batch layout, used by every stage.

A *prompt block* ``(B, P)`` padded on the left and a *response block* ``(B, R)`` padded on the
right, concatenated to ``(B, P + R)``. Left padding lets ``generate`` continue all prompts from
the same column with a KV cache; the fixed boundary at column ``P`` lets scoring find the
hidden state that predicts response token t at column ``P - 1 + t``. Position ids always come
from the attention mask, so padding never shifts a token's position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import TypeVar

import torch
from torch import nn

S = TypeVar("S", bound="Sequences")


def positions_from_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position of each token counted over real tokens only (padding gets 0). Matches ``generate``."""
    positions = attention_mask.long().cumsum(-1) - 1
    return positions.masked_fill(attention_mask == 0, 0)


def pad_left(rows: Sequence[torch.Tensor], value: int, width: int | None = None) -> torch.Tensor:
    width = max((len(r) for r in rows), default=0) if width is None else width
    out = torch.full((len(rows), width), value, dtype=rows[0].dtype if rows else torch.long)
    for i, row in enumerate(rows):
        if len(row):
            out[i, width - len(row) :] = row
    return out


def pad_right(rows: Sequence[torch.Tensor], value: int, width: int | None = None) -> torch.Tensor:
    width = max((len(r) for r in rows), default=0) if width is None else width
    out = torch.full((len(rows), width), value, dtype=rows[0].dtype if rows else torch.long)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


@dataclass
class Sequences:
    """Prompts and responses: ``prompt_ids, prompt_mask (B, P)`` left-padded, ``response_ids,
    response_mask (B, R)`` right-padded (the mask covers response tokens up to and including
    the EOS, when there is one)."""

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    response_ids: torch.Tensor
    response_mask: torch.Tensor

    @property
    def input_ids(self) -> torch.Tensor:
        return torch.cat([self.prompt_ids, self.response_ids], dim=1)

    @property
    def attention_mask(self) -> torch.Tensor:
        return torch.cat([self.prompt_mask, self.response_mask], dim=1)

    @property
    def response_lengths(self) -> torch.Tensor:
        return self.response_mask.sum(-1)

    def __len__(self) -> int:
        return self.prompt_ids.shape[0]

    def select(self: S, index: torch.Tensor | slice) -> S:
        return replace(self, **{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def to(self: S, device: torch.device | str) -> S:
        return replace(self, **{f.name: getattr(self, f.name).to(device) for f in fields(self)})

    def chunks(self: S, size: int) -> list[S]:
        return [self.select(slice(start, start + size)) for start in range(0, len(self), size)]


def concat(parts: Sequence[S], pad_token_id: int) -> S:
    """Join batches whose prompt or response widths differ, re-padding to the widest. Fields
    other than the four blocks (e.g. a rollout's ``ended``) are concatenated as they are."""
    if len(parts) == 1:
        return parts[0]
    width_p = max(p.prompt_ids.shape[1] for p in parts)
    width_r = max(p.response_ids.shape[1] for p in parts)

    def left(t: torch.Tensor, value: int) -> torch.Tensor:
        return nn.functional.pad(t, (width_p - t.shape[1], 0), value=value)

    def right(t: torch.Tensor, value: int) -> torch.Tensor:
        return nn.functional.pad(t, (0, width_r - t.shape[1]), value=value)

    padded = {
        "prompt_ids": torch.cat([left(p.prompt_ids, pad_token_id) for p in parts]),
        "prompt_mask": torch.cat([left(p.prompt_mask, 0) for p in parts]),
        "response_ids": torch.cat([right(p.response_ids, pad_token_id) for p in parts]),
        "response_mask": torch.cat([right(p.response_mask, 0) for p in parts]),
    }
    rest = {f.name: torch.cat([getattr(p, f.name) for p in parts]) for f in fields(parts[0]) if f.name not in padded}
    return type(parts[0])(**padded, **rest)


def collate(prompts: Sequence[list[int]], responses: Sequence[list[int]], pad_token_id: int) -> Sequences:
    """Token id lists -> the batch layout."""
    prompt_rows = [torch.tensor(p, dtype=torch.long) for p in prompts]
    response_rows = [torch.tensor(r, dtype=torch.long) for r in responses]
    prompt_ids = pad_left(prompt_rows, pad_token_id)
    response_ids = pad_right(response_rows, pad_token_id)
    return Sequences(
        prompt_ids=prompt_ids,
        prompt_mask=pad_left([torch.ones(len(p), dtype=torch.long) for p in prompt_rows], 0, prompt_ids.shape[1]),
        response_ids=response_ids,
        response_mask=pad_right(
            [torch.ones(len(r), dtype=torch.long) for r in response_rows], 0, response_ids.shape[1]
        ),
    )
