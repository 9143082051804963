"""The one scoring forward of every stage: per-token log-probs and entropy of response tokens,
values, reward-model scores, and the exact KL to a reference.

The LM head is the expensive part of a small model (128 -> 4,096 on the embedded model, 1,024 ->
151,936 on Qwen3-0.6B: about half the FLOPs), so it runs only where a token is scored: the hidden
states that predict response tokens are gathered (no padding, no prompt position but the last),
multiplied by the head in chunks of rows, with the log-softmax fused into ``cross_entropy``.
Under autograd, when the logits of all rows would take more than ``STORE_LOGITS_BYTES`` (a real
vocabulary: 151,936 logits a row), each chunk is recomputed in backward (activation
checkpointing), so no ``(B, T, V)`` tensor ever exists and a chunk's logits live only while that
chunk is computed; below it (the embedded model's 4,096) autograd keeps them, which saves the
recomputation (a second head matmul and log-softmax: about 6 % of a DPO step here).

The head is applied as the model's own forward applies it: some families change the logits after
the output embedding (Gemma 2 soft-caps them, Granite divides and Cohere multiplies them by a
constant; ``logit_transform``), and the packed head does the same. A family whose forward does
something else is caught when it is loaded (``scoring_check``) and scored through its own forward
instead, all logits at once (``uses_own_forward``).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint
from transformers import PretrainedConfig

from alignlab.batch import Sequences, positions_from_mask
from alignlab.errors import ModelLoadError
from alignlab.losses.tokens import kl_from_logits, logprobs_and_entropy, logprobs_from_logits

# Logits per chunk (rows x vocabulary): small enough to stay in cache on a CPU, large enough to
# keep a GPU busy; at least MIN_CHUNK_ROWS rows, so that a real vocabulary's head weight is read
# once per hundreds of rows rather than per row.
LOGITS_PER_CHUNK = {"cpu": 2**22, "cuda": 2**27}
MIN_CHUNK_ROWS = 256
# Above this many bytes of float32 logits for one call's rows, backward recomputes them per chunk.
STORE_LOGITS_BYTES = 2**28


# Families whose causal-LM forward scales the head's output by a config field (model_type -> field).
LOGIT_DIVISORS = {
    "granite": "logits_scaling",
    "granite_swa": "logits_scaling",
    "granitemoe": "logits_scaling",
    "granitemoe_swa": "logits_scaling",
    "granitemoehybrid": "logits_scaling",
    "granitemoeshared": "logits_scaling",
}
LOGIT_MULTIPLIERS = {
    "cohere": "logit_scale",
    "cohere2": "logit_scale",
    "cohere2_moe": "logit_scale",
    "cohere_compass": "logit_scale",
    "falcon_h1": "lm_head_multiplier",
    "hyperclovax": "logits_scaling",
}


@dataclass(frozen=True)
class LogitTransform:
    """What a causal LM's forward does to the output embedding's logits: multiply by
    ``multiplier``, divide by ``divisor``, then soft-cap to ``softcap * tanh(logits / softcap)``
    (Gemma 2, Team Gemma 2024, sec. 2.2). ``(..., V) -> (..., V)``; the default is the identity."""

    multiplier: float = 1.0
    divisor: float = 1.0
    softcap: float | None = None

    def __call__(self, logits: torch.Tensor) -> torch.Tensor:
        if self.multiplier != 1.0:
            logits = logits * self.multiplier
        if self.divisor != 1.0:
            logits = logits / self.divisor
        if self.softcap is not None:
            logits = torch.tanh(logits / self.softcap) * self.softcap
        return logits


def logit_transform(config: PretrainedConfig) -> LogitTransform:
    """The logit transform of the family that ``config`` describes (the identity for most)."""
    multiplier = LOGIT_MULTIPLIERS.get(config.model_type)
    divisor = LOGIT_DIVISORS.get(config.model_type)
    return LogitTransform(
        multiplier=float(getattr(config, multiplier)) if multiplier else 1.0,
        divisor=float(getattr(config, divisor)) if divisor else 1.0,
        softcap=getattr(config, "final_logit_softcapping", None),
    )


@dataclass(frozen=True)
class LMHead:
    """Rows ``(N, F)`` -> float32 logits ``(N, V)`` as the model's forward computes them: the
    output embedding (``linear``), then the family's transform. ``linear=None``: the rows already
    are the model's own logits (``uses_own_forward``)."""

    linear: nn.Module | None
    transform: LogitTransform = LogitTransform()

    def __call__(self, rows: torch.Tensor) -> torch.Tensor:
        logits = rows if self.linear is None else self.linear(rows)
        return self.transform(logits.float())

    def vocab_size(self, rows: torch.Tensor) -> int:
        return rows.shape[-1] if self.linear is None else self.linear.weight.shape[0]


# The logits of the model's own forward: nothing left to apply.
OWN_LOGITS = LMHead(linear=None)


def base_model(model: nn.Module) -> nn.Module:
    """The transformers model inside a peft model (LoRA layers included), or ``model`` itself."""
    return model.get_base_model() if hasattr(model, "get_base_model") else model


def causal_lm_parts(model: nn.Module) -> tuple[nn.Module, LMHead]:
    """(trunk, LM head) of a causal LM or of a peft model around one (LoRA layers included)."""
    base = base_model(model)
    return getattr(base, base.base_model_prefix), LMHead(base.get_output_embeddings(), logit_transform(base.config))


def classifier_parts(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """(trunk, score head) of a sequence classifier (a reward model or a critic), or of a peft
    model around one (LoRA layers included; the head is peft's wrapper of its trained copy)."""
    base = base_model(model)
    head = getattr(base, "score", None)
    if not isinstance(getattr(head, "original_module", head), nn.Linear):
        raise ModelLoadError(f"{type(base).__name__} has no linear 'score' head to read scores from")
    return getattr(base, base.base_model_prefix), head


# Causal LM classes (with their logit transform) that the packed head does not reproduce: scored
# through their own forward. Filled by ``scoring_check.check_causal_lm`` when such a model loads.
OWN_FORWARD: set[tuple[type, LogitTransform]] = set()


def uses_own_forward(model: nn.Module) -> bool:
    base = base_model(model)
    return (type(base), logit_transform(base.config)) in OWN_FORWARD


def model_inputs(module: nn.Module, batch: Sequences) -> dict[str, torch.Tensor | bool]:
    """The forward arguments of the concatenated prompt and response: position ids from the
    attention mask (where the model takes them: absolute and rotary positions then skip left
    padding; a model without them, e.g. ALiBi's Bloom, places tokens by the mask itself)."""
    attention_mask = batch.attention_mask
    inputs = {"input_ids": batch.input_ids, "attention_mask": attention_mask, "use_cache": False}
    if "position_ids" in inspect.signature(module.forward).parameters:
        inputs["position_ids"] = positions_from_mask(attention_mask)
    return inputs


def trunk_hidden(trunk: nn.Module, batch: Sequences) -> torch.Tensor:
    """Last hidden states ``(B, P + R, H)`` of the concatenated prompt and response."""
    return trunk(**model_inputs(trunk, batch)).last_hidden_state


def predicting_states(hidden: torch.Tensor, batch: Sequences) -> torch.Tensor:
    """``(B, R, ·)``: the hidden state (or logits) at column ``P - 1 + t`` predicts response token t."""
    start = batch.prompt_ids.shape[1] - 1
    return hidden[:, start : start + batch.response_ids.shape[1]]


def response_features(model: nn.Module, batch: Sequences) -> tuple[torch.Tensor, LMHead]:
    """``(B, R, F)`` rows that predict the response tokens, and the head that turns them into
    logits: the trunk's hidden states and the packed LM head, or, for a model scored through its
    own forward, its logits ``(B, R, V)`` and ``OWN_LOGITS``."""
    if uses_own_forward(model):
        base = base_model(model)
        return predicting_states(base(**model_inputs(base, batch)).logits, batch), OWN_LOGITS
    trunk, head = causal_lm_parts(model)
    return predicting_states(trunk_hidden(trunk, batch), batch), head


def chunk_rows(vocab_size: int, device: torch.device) -> int:
    return max(MIN_CHUNK_ROWS, LOGITS_PER_CHUNK.get(device.type, LOGITS_PER_CHUNK["cuda"]) // vocab_size)


def _head_logits(hidden: torch.Tensor, head: LMHead, temperature: float) -> torch.Tensor:
    logits = head(hidden)
    return logits / temperature if temperature != 1.0 else logits


def _logprobs(hidden: torch.Tensor, labels: torch.Tensor, head: LMHead, temperature: float) -> torch.Tensor:
    return logprobs_from_logits(_head_logits(hidden, head, temperature), labels)


def _logprobs_and_entropy(
    hidden: torch.Tensor, labels: torch.Tensor, head: LMHead, temperature: float
) -> tuple[torch.Tensor, torch.Tensor]:
    return logprobs_and_entropy(_head_logits(hidden, head, temperature), labels)


def packed_logprobs(
    head: LMHead, hidden: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0, with_entropy: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """log softmax(head(h) / T)[label] (and the entropy) of packed rows: ``(N, H), (N,) -> (N,)``."""
    vocab = head.vocab_size(hidden)
    size = chunk_rows(vocab, hidden.device)
    stored_bytes = 4 * hidden.shape[0] * vocab
    # The own-forward rows are logits already: recomputing their log-softmax would save nothing.
    recompute = (
        torch.is_grad_enabled()
        and hidden.requires_grad
        and stored_bytes > STORE_LOGITS_BYTES
        and head.linear is not None
    )
    logprobs, entropies = [], []
    for start in range(0, hidden.shape[0], size):
        args = (hidden[start : start + size], labels[start : start + size], head, temperature)
        fn = _logprobs_and_entropy if with_entropy else _logprobs
        out = checkpoint(fn, *args, use_reentrant=False) if recompute else fn(*args)
        if with_entropy:
            logprobs.append(out[0])
            entropies.append(out[1])
        else:
            logprobs.append(out)
    if not logprobs:
        empty = hidden.new_zeros(0, dtype=torch.float32)
        return empty, (empty if with_entropy else None)
    return torch.cat(logprobs), (torch.cat(entropies) if with_entropy else None)


def unpack(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Packed ``(N,)`` values back to ``(B, R)``, 0 where ``mask`` is 0."""
    out = values.new_zeros(mask.shape)
    out[mask.bool()] = values
    return out


@dataclass
class TokenScores:
    """Per response token ``(B, R)``, 0 on padding: log-prob, and on request entropy and value."""

    logprobs: torch.Tensor
    entropy: torch.Tensor | None = None
    values: torch.Tensor | None = None


class ValueHead(nn.Module):
    """A scalar value per token from a hidden state, started near zero so that early value
    errors do not swamp the policy gradient."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.summary = nn.Linear(hidden_size, 1)
        nn.init.normal_(self.summary.weight, std=1.0 / (hidden_size + 1))
        nn.init.zeros_(self.summary.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.summary(hidden.to(self.summary.weight.dtype)).squeeze(-1)


class PolicyForward(nn.Module):
    """A policy (and optionally its critic) as one module whose forward returns ``TokenScores``:
    DDP and accelerate's autocast wrap this forward, so one call is one synchronised forward.

    The critic is a ``ValueHead`` on the policy's trunk (``value_head``) or a sequence classifier
    of its own (``critic``), whose score head is applied at every response position.
    """

    def __init__(self, policy: nn.Module, value_head: ValueHead | None = None, critic: nn.Module | None = None):
        super().__init__()
        self.policy = policy
        self.value_head = value_head
        self.critic = critic

    def forward(self, batch: Sequences, temperature: float = 1.0, with_entropy: bool = False) -> TokenScores:
        states, head = response_features(self.policy, batch)
        mask = batch.response_mask.bool()
        logprobs, entropy = packed_logprobs(head, states[mask], batch.response_ids[mask], temperature, with_entropy)
        values = None
        if self.value_head is not None:
            if head is OWN_LOGITS:
                trunk, _ = causal_lm_parts(self.policy)
                states = predicting_states(trunk_hidden(trunk, batch), batch)
            values = self.value_head(states).float() * mask
        elif self.critic is not None:
            critic_trunk, critic_head = classifier_parts(self.critic)
            critic_states = predicting_states(trunk_hidden(critic_trunk, batch), batch)
            values = critic_head(critic_states).squeeze(-1).float() * mask
        return TokenScores(
            logprobs=unpack(logprobs, mask),
            entropy=unpack(entropy, mask) if entropy is not None else None,
            values=values,
        )


def sequence_scores(classifier: nn.Module, batch: Sequences) -> torch.Tensor:
    """A reward model's score of each (prompt, response) ``(B,)``, read at the last real token
    (the response's last, or the prompt's last for an empty response), whatever the pad id."""
    trunk, head = classifier_parts(classifier)
    hidden = trunk_hidden(trunk, batch)
    last = batch.prompt_ids.shape[1] - 1 + batch.response_lengths
    rows = torch.arange(len(batch), device=hidden.device)
    return head(hidden[rows, last]).squeeze(-1).float()


@torch.no_grad()
def sequence_scores_in_chunks(classifier: nn.Module, batch: Sequences, batch_size: int) -> torch.Tensor:
    """``sequence_scores`` of a batch of any size, ``batch_size`` rows at a time: ``(B,)`` on the CPU."""
    device = next(classifier.parameters()).device
    parts = [sequence_scores(classifier, part.to(device)).cpu() for part in batch.chunks(batch_size)]
    return torch.cat(parts) if parts else torch.zeros(0)


@torch.no_grad()
def reference_statistics(
    reference: nn.Module, policy: nn.Module | None, batch: Sequences, temperature: float
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Per response token ``(B, R)``: log pi_ref of the token at temperature 1 (for perplexity),
    and, given the policy that sampled the batch, the exact KL(pi || pi_ref) between the
    next-token distributions at the sampling temperature (summed along a response: an unbiased,
    never negative estimate of the sequence KL)."""
    mask = batch.response_mask.bool()
    labels = batch.response_ids[mask]
    ref_states, ref_head = response_features(reference, batch)
    ref_states = ref_states[mask]
    if policy is not None:
        states, head = response_features(policy, batch)
        states = states[mask]
    size = chunk_rows(ref_head.vocab_size(ref_states), ref_states.device)
    ref_logprobs, kls = [], []
    for start in range(0, labels.shape[0], size):
        ref_logits = ref_head(ref_states[start : start + size])
        ref_logprobs.append(logprobs_from_logits(ref_logits, labels[start : start + size]))
        if policy is not None:
            logits = _head_logits(states[start : start + size], head, temperature)
            kls.append(kl_from_logits(logits, ref_logits / temperature))
    empty = ref_states.new_zeros(0, dtype=torch.float32)
    ref_packed = torch.cat(ref_logprobs) if ref_logprobs else empty
    kl = unpack(torch.cat(kls) if kls else empty, mask) if policy is not None else None
    return unpack(ref_packed, mask), kl
