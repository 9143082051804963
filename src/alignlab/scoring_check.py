"""A one-time check, when a model loads, that alignlab scores it as its own forward does.

alignlab does not call a causal LM's forward to score tokens: it runs the trunk, then the output
embedding on the rows that predict response tokens, with the family's logit transform
(``scoring.logit_transform``), on batches whose prompts are left-padded and whose positions come
from the attention mask. A family that does something else to its logits, or that places tokens
by anything but the mask and the position ids, would be scored wrongly without an error. So the
first model of each class (and logit transform) is probed on a tiny left-padded batch, three ways:

- alignlab's packed path on the padded batch;
- the model's own forward on the padded batch, with the same inputs;
- the model's own forward on each row alone, unpadded: the truth.

The packed path matches the truth: it is used. Only the own forward on the padded batch does:
the class is scored through its own forward from then on (said once: all logits at once, more
memory). Neither does: the model is refused. Reward models and critics (sequence classifiers)
are checked the same way, the score of a padded row against the row alone; they have no fallback.

What is caught is a difference beyond rounding (``tolerance``): on a real checkpoint a missing
scale or soft-cap moves log-probs by whole nats, a shifted position by a good part of one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import nn

from alignlab.batch import Sequences, collate
from alignlab.errors import ModelLoadError
from alignlab.log import logger
from alignlab.scoring import (
    OWN_FORWARD,
    causal_lm_parts,
    logit_transform,
    model_inputs,
    predicting_states,
    sequence_scores,
    trunk_hidden,
)

# The probe's rows: prompt and response lengths; the second row is padded on both sides.
PROMPT_LENGTHS = (6, 3)
RESPONSE_LENGTHS = (4, 2)
# Classes (and logit transforms) already checked in this process.
_CHECKED: set[tuple[type, object]] = set()


def tolerance(logits: torch.Tensor, dtype: torch.dtype) -> float:
    """The largest log-prob difference two correct computations of ``logits`` may show: rounding
    of logits of this size in ``dtype`` (a few units in the last place), plus float32 noise of a
    different batch shape through a deep network. Measured on SmolLM2-135M (30 layers, logits up
    to 29): 3e-5 in float32, 0.4 in bfloat16 for a computation rounded differently; a missing
    soft-cap at 30 moves its log-probs by 4, a missing scale by 19."""
    return 1e-3 + 4 * torch.finfo(dtype).eps * float(logits.abs().max())


def probe_batch(vocab_size: int, avoid: int | None, device: torch.device) -> Sequences:
    """Two rows of fixed pseudo-random token ids (never ``avoid``, the pad id), prompts
    left-padded and responses right-padded as ``alignlab.batch`` lays them out."""
    generator = torch.Generator().manual_seed(0)
    rows = []
    for length in (p + r for p, r in zip(PROMPT_LENGTHS, RESPONSE_LENGTHS)):
        ids = torch.randint(vocab_size, (length,), generator=generator)
        if avoid is not None:
            ids[ids == avoid] = (avoid + 1) % vocab_size
        rows.append(ids.tolist())
    prompts = [row[:p] for row, p in zip(rows, PROMPT_LENGTHS)]
    responses = [row[p:] for row, p in zip(rows, PROMPT_LENGTHS)]
    pad = avoid if avoid is not None else 0
    return collate(prompts, responses, pad).to(device)


def _rows_alone(batch: Sequences) -> Iterator[torch.Tensor]:
    """Each row's real tokens, unpadded, as a batch of one ``(1, P_i + R_i)``."""
    for ids, mask in zip(batch.input_ids, batch.attention_mask):
        yield ids[mask.bool()].unsqueeze(0)


@contextlib.contextmanager
def _plain_eval(model: nn.Module) -> Iterator[None]:
    """No gradient, no autocast, eval mode; the mode is restored after."""
    training = model.training
    device_type = next(model.parameters()).device.type
    model.eval()
    try:
        with torch.no_grad(), torch.autocast(device_type, enabled=False):
            yield
    finally:
        model.train(training)


def _log_softmax_at_responses(logits: torch.Tensor, batch: Sequences) -> list[torch.Tensor]:
    """Per row, the log-softmax ``(R_i, V)`` of the logits ``(B, R, V)`` that predict its response tokens."""
    return [rows[mask.bool()].float().log_softmax(-1) for rows, mask in zip(logits, batch.response_mask)]


def _max_difference(a: list[torch.Tensor], b: list[torch.Tensor]) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a, b))


def check_causal_lm(model: nn.Module) -> None:
    """Probe ``model`` (a transformers causal LM) as the module docstring says, once per class and
    logit transform; mark it for its own forward, or raise ``ModelLoadError``."""
    key = (type(model), logit_transform(model.config))
    if key in _CHECKED:
        return
    name = type(model).__name__
    dtype = next(model.parameters()).dtype
    with _plain_eval(model):
        batch = probe_batch(model.config.get_text_config().vocab_size, None, next(model.parameters()).device)
        truth_logits = [
            model(input_ids=row, use_cache=False).logits[0, prompt - 1 : prompt - 1 + response].float()
            for row, prompt, response in zip(_rows_alone(batch), PROMPT_LENGTHS, RESPONSE_LENGTHS)
        ]
        truth = [logits.log_softmax(-1) for logits in truth_logits]
        trunk, head = causal_lm_parts(model)
        hidden = predicting_states(trunk_hidden(trunk, batch), batch)
        packed = [head(rows[mask.bool()]).log_softmax(-1) for rows, mask in zip(hidden, batch.response_mask)]
        own = _log_softmax_at_responses(predicting_states(model(**model_inputs(model, batch)).logits, batch), batch)
    allowed = tolerance(torch.cat(truth_logits), dtype)
    packed_error, own_error = _max_difference(packed, truth), _max_difference(own, truth)
    if packed_error <= allowed:
        logger.debug("%s: the packed LM head reproduces its own forward (max |difference| %.2g)", name, packed_error)
    elif own_error <= allowed:
        logger.warning(
            "%s: alignlab's packed LM head does not reproduce this family's logits (max log-prob difference %.3g), "
            "so it is scored through its own forward: all logits of a batch at once, more memory",
            name,
            packed_error,
        )
        OWN_FORWARD.add(key)
    else:
        raise ModelLoadError(
            f"{name} scores a left-padded row differently from the row alone (max log-prob difference "
            f"{own_error:.3g}): alignlab's batches are left-padded, so its log-probs would be wrong"
        )
    _CHECKED.add(key)


def check_classifier(model: nn.Module) -> None:
    """Probe a sequence classifier (reward model or critic): the score ``sequence_scores`` reads
    on a padded batch against its own forward on each row alone; raise ``ModelLoadError`` if they differ."""
    key = (type(model), None)
    if key in _CHECKED:
        return
    with _plain_eval(model):
        pad = model.config.pad_token_id
        batch = probe_batch(model.config.get_text_config().vocab_size, pad, next(model.parameters()).device)
        truth = torch.cat([model(input_ids=row, use_cache=False).logits[:, 0] for row in _rows_alone(batch)])
        scores = sequence_scores(model, batch)
    error = float((scores - truth.float()).abs().max())
    allowed = tolerance(truth, next(model.parameters()).dtype)
    if error > allowed:
        raise ModelLoadError(
            f"{type(model).__name__}: alignlab's reading of its score differs from its own forward by {error:.3g} "
            "on a left-padded batch, so its rewards and values would be wrong"
        )
    _CHECKED.add(key)
