"""Batched sampling of responses: the one sampler every method uses (KV cache, every EOS id).

A rollout keeps token ids and masks only: log-probs are computed by the scoring forward
(``scoring.PolicyForward``), which is what training differentiates, so nothing of size
``(B, R, V)`` is ever kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn
from transformers import GenerationConfig as HFGenerationConfig
from transformers import (
    LogitsProcessor,
    LogitsProcessorList,
    PreTrainedTokenizerBase,
    TemperatureLogitsWarper,
    TopKLogitsWarper,
    TopPLogitsWarper,
)

from alignlab.batch import Sequences, concat, pad_left
from alignlab.config import SamplingConfig
from alignlab.tokenization import encode_prompt, ended_with_stop, response_mask_from_ids, stop_token_ids


@dataclass
class Rollout(Sequences):
    """Sampled responses in the batch layout, and ``ended (B,)``: True where the response
    reached one of the model's EOS ids (False where it hit ``max_new_tokens``)."""

    ended: torch.Tensor


def tokenize_prompts(
    tokenizer: PreTrainedTokenizerBase, prompts: Sequence[str], max_prompt_tokens: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-padded prompt ids and mask with the tokenizer's special prefix (a BOS where the model
    was trained with one); over-long prompts keep their last tokens behind that prefix."""
    rows = [torch.tensor(encode_prompt(tokenizer, p, max_prompt_tokens), dtype=torch.long) for p in prompts]
    ids = pad_left(rows, tokenizer.pad_token_id)
    mask = pad_left([torch.ones(len(r), dtype=torch.long) for r in rows], 0, ids.shape[1])
    return ids, mask


def decode_responses(tokenizer: PreTrainedTokenizerBase, batch: Sequences) -> list[str]:
    """Response texts: real tokens only, special tokens (EOS) dropped."""
    return [
        tokenizer.decode(ids[mask.bool()].tolist(), skip_special_tokens=True)
        for ids, mask in zip(batch.response_ids, batch.response_mask)
    ]


class InverseCDFSampler(LogitsProcessor):
    """Draws each next token from softmax(logits / temperature), restricted by top-k / top-p, by
    inverting the cumulative distribution with one given uniform number per row and step; returns scores whose
    argmax is the drawn token, so ``generate`` runs in its greedy mode and keeps its KV cache,
    padding and stopping logic.

    Why not ``do_sample=True``: ``torch.multinomial`` costs ~20 ms per step on a (256, 4096) CPU
    batch, about half of all generation time for a small model; this costs under 1 ms. And the
    numbers are given, not drawn: the row of a batch gets the same sample however the batch is
    cut into chunks or spread over processes.
    """

    def __init__(self, temperature: float, top_k: int, top_p: float, uniforms: torch.Tensor) -> None:
        self.uniforms = uniforms  # (rows, max_new_tokens): the number that draws row r's token t
        self.step = 0
        self.warpers = LogitsProcessorList([TemperatureLogitsWarper(temperature)])
        if top_k > 0:
            self.warpers.append(TopKLogitsWarper(top_k))
        if top_p < 1.0:
            self.warpers.append(TopPLogitsWarper(top_p))

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        probs = torch.softmax(self.warpers(input_ids, scores).float(), dim=-1)
        cdf = probs.cumsum(dim=-1)
        # Scaling by the last CDF value keeps u inside the support despite rounding in the sum;
        # `right=True` never lands on a zero-probability token (its CDF step is empty).
        u = self.uniforms[:, self.step : self.step + 1].to(cdf.device, cdf.dtype) * cdf[:, -1:]
        self.step += 1
        tokens = torch.searchsorted(cdf, u, right=True).clamp(max=cdf.shape[-1] - 1)
        return torch.full_like(scores, float("-inf")).scatter_(1, tokens, 0.0)


def _hf_generation_config(sampling: SamplingConfig, stop_ids: list[int], pad_token_id: int) -> HFGenerationConfig:
    """Greedy decoding over the scores of ``InverseCDFSampler``, nothing else changing them.

    Every field that could add a logits processor is set: ``generate`` fills unset ones from the
    checkpoint's generation_config.json and then from global defaults, which would make the
    samples come from another distribution than the policy whose log-probs PPO and the KL
    estimates use.
    """
    return HFGenerationConfig(
        do_sample=False,
        num_beams=1,
        repetition_penalty=1.0,
        no_repeat_ngram_size=0,
        min_length=0,
        max_new_tokens=sampling.max_new_tokens,
        eos_token_id=stop_ids,
        pad_token_id=pad_token_id,
        use_cache=True,
        return_dict_in_generate=False,
    )


@torch.no_grad()
def sample(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    sampling: SamplingConfig,
    uniforms: torch.Tensor | None = None,
) -> Rollout:
    """Sample one response per prompt row with ``generate`` (KV cache, ``InverseCDFSampler``),
    in chunks of ``sampling.batch_size`` rows; a response stops at any of the model's EOS ids.
    Repeat rows beforehand for several samples per prompt. ``uniforms (rows, max_new_tokens)``
    fix the draws (default: from torch's global generator).

    ``model`` is a plain (unwrapped) causal LM or a peft model; sampling runs in eval mode.
    """
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    stop_ids = stop_token_ids(model, tokenizer)
    hf_config = _hf_generation_config(sampling, stop_ids, tokenizer.pad_token_id)
    if uniforms is None:
        uniforms = torch.rand(prompt_ids.shape[0], sampling.max_new_tokens)
    parts = []
    for start in range(0, prompt_ids.shape[0], sampling.batch_size):
        rows = uniforms[start : start + sampling.batch_size]
        processor = LogitsProcessorList([InverseCDFSampler(sampling.temperature, sampling.top_k, sampling.top_p, rows)])
        ids = prompt_ids[start : start + sampling.batch_size]
        mask = prompt_mask[start : start + sampling.batch_size]
        # Drop columns that are padding in every row of this chunk.
        keep = int(mask.sum(-1).max())
        ids, mask = ids[:, -keep:].to(device), mask[:, -keep:].to(device)
        sequences = model.generate(
            input_ids=ids, attention_mask=mask, generation_config=hf_config, logits_processor=processor
        )
        response_ids = sequences[:, ids.shape[1] :]
        response_mask = response_mask_from_ids(response_ids, stop_ids, tokenizer.pad_token_id)
        ended = ended_with_stop(response_ids, response_mask, stop_ids)
        parts.append(Rollout(ids.cpu(), mask.cpu(), response_ids.cpu(), response_mask.cpu(), ended.cpu()))
    model.train(was_training)
    return concat(parts, tokenizer.pad_token_id)


def generate(
    model: nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    prompts: Sequence[str],
    samples_per_prompt: int,
    sampling: SamplingConfig,
    max_prompt_tokens: int | None,
    uniforms: torch.Tensor | None = None,
) -> Rollout:
    """``samples_per_prompt`` responses to each prompt, the rows of one prompt adjacent."""
    ids, mask = tokenize_prompts(tokenizer, prompts, max_prompt_tokens)
    repeat = samples_per_prompt
    ids, mask = ids.repeat_interleave(repeat, 0), mask.repeat_interleave(repeat, 0)
    return sample(model, tokenizer, ids, mask, sampling, uniforms)
