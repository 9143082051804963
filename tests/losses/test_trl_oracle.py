"""alignlab's losses against TRL 1.16's own code, on the same random inputs, to 1e-6.

TRL computes most losses inline in a trainer method that also runs the model. Each oracle here
builds the trainer with ``object.__new__`` (no model, no dataset, no config parsing), sets only the
attributes that method reads, and replaces the model by a stand-in whose outputs are known
exactly: ``TableLM`` gives every vocabulary id a fixed log-prob, as TRL's fused LM head would
return it (the log-prob of each label, 0 where the label is -100). The method under test is TRL's
unchanged; only its inputs are faked. Where TRL's definition differs from alignlab's for a
documented reason, the comparison is made after that transformation, said at the test.

There is no PPO in TRL 1.16 (no ``PPOTrainer`` in ``trl`` or ``trl.experimental``): GAE, value
clipping, whitening and the RLHF token reward have no oracle here (see ``test_no_ppo_in_trl``).
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from types import SimpleNamespace

import pytest
import torch
import trl
from trl.trainer.dpo_trainer import DPOTrainer
from trl.trainer.grpo_trainer import GRPOTrainer
from trl.trainer.kto_trainer import KTOTrainer
from trl.trainer.reward_trainer import RewardTrainer
from trl.trainer.rloo_trainer import RLOOTrainer
from trl.trainer.utils import entropy_from_logits, selective_log_softmax, selective_log_softmax_and_entropy

from alignlab.losses import (
    bradley_terry_loss,
    cispo_surrogate,
    clipped_surrogate,
    dpo_loss,
    group_advantages,
    importance_weighted_kl,
    kl_estimate,
    kto_loss,
    kto_reference_point,
    leave_one_out_advantages,
    logprobs_and_entropy,
    logprobs_from_logits,
    orpo_loss,
    sapo_surrogate,
    sequence_logprobs,
    simpo_loss,
    token_weights,
    with_chosen_nll,
)

with warnings.catch_warnings():  # "You are importing from 'trl.experimental'": CPO and ORPO live there in 1.16
    warnings.simplefilter("ignore")
    from trl.experimental.cpo import CPOTrainer
    from trl.experimental.orpo import ORPOTrainer

ATOL = 1e-6
VOCAB = 13


def close(actual: torch.Tensor, expected: torch.Tensor, atol: float = ATOL) -> bool:
    actual, expected = torch.as_tensor(actual).double(), torch.as_tensor(expected).double()
    return actual.shape == expected.shape and torch.allclose(actual, expected, rtol=0.0, atol=atol)


class FakeAccelerator:
    """One CPU process: every gather and reduce is the identity."""

    device = torch.device("cpu")
    process_index = 0
    num_processes = 1
    sync_gradients = True

    def gather(self, tensor):
        return tensor

    gather_for_metrics = gather

    def reduce(self, tensor, reduction="sum"):
        return tensor

    def unwrap_model(self, model):
        return model


class TableLM:
    """A causal LM as TRL's fused head returns it: ``log_probs[b, t]`` is ``table[labels[b, t + 1]]``
    (0 where that label is -100), so the sequence log-probs of any batch are known exactly and the
    gradient flows into ``table``."""

    training = True
    is_gradient_checkpointing = False

    def __init__(self, table: torch.Tensor):
        self.table = table

    def __call__(self, input_ids=None, attention_mask=None, labels=None, fused_lm_head=False, **kwargs):
        assert fused_lm_head and labels is not None
        shifted = labels[:, 1:]
        keep = shifted != -100
        log_probs = torch.where(keep, self.table[shifted.clamp(min=0)], torch.zeros((), dtype=self.table.dtype))
        zeros = torch.zeros_like(log_probs).detach()
        return SimpleNamespace(
            log_probs=log_probs, entropy=zeros, mean_logits=zeros, is_top1=zeros.bool(), aux_loss=None
        )


def metrics() -> defaultdict:
    return defaultdict(lambda: defaultdict(list))


def random_table(seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return (-0.3 - torch.rand(VOCAB, generator=generator, dtype=torch.float64) * 2.0).requires_grad_()


def token_batch(lengths: list[tuple[int, int]], seed: int) -> dict[str, torch.Tensor]:
    """Right-padded rows of ``prompt_len`` prompt tokens then ``completion_len`` completion tokens:
    ``input_ids``, ``attention_mask`` and ``completion_mask`` ``(B, L)``."""
    generator = torch.Generator().manual_seed(seed)
    width = max(p + c for p, c in lengths) + 1
    ids = torch.randint(1, VOCAB, (len(lengths), width), generator=generator)
    attention = torch.zeros(len(lengths), width, dtype=torch.long)
    completion = torch.zeros(len(lengths), width, dtype=torch.long)
    for row, (p, c) in enumerate(lengths):
        attention[row, : p + c] = 1
        completion[row, p : p + c] = 1
        ids[row, p + c :] = 0
    return {"input_ids": ids, "attention_mask": attention, "completion_mask": completion}


def our_sequence_logps(table: torch.Tensor, ids: torch.Tensor, completion_mask: torch.Tensor, average=False):
    """alignlab's side of a ``TableLM`` batch: token log-probs of the labels ``ids[:, 1:]``, summed
    (or averaged) over the completion tokens with ``sequence_logprobs``."""
    return sequence_logprobs(table[ids[:, 1:]], completion_mask[:, 1:].double(), average=average)


# ---- token helpers: trl.trainer.utils ----


def test_logprobs_and_entropy_match_trl_utils() -> None:
    torch.manual_seed(0)
    logits = torch.randn(3, 7, VOCAB, dtype=torch.float64) * 3
    labels = torch.randint(0, VOCAB, (3, 7))
    assert close(logprobs_from_logits(logits, labels), selective_log_softmax(logits, labels))
    logps, entropy = logprobs_and_entropy(logits, labels)
    trl_logps, trl_entropy = selective_log_softmax_and_entropy(logits, labels)
    assert close(logps, trl_logps) and close(entropy, trl_entropy)
    assert close(entropy, entropy_from_logits(logits))


def test_sequence_logprobs_match_trl_get_batch_logps() -> None:
    """ORPO/CPO's static ``get_batch_logps`` (labels shifted by one, -100 ignored) is
    ``sequence_logprobs`` of the per-token log-probs, summed or averaged."""
    torch.manual_seed(1)
    logits = torch.randn(4, 9, VOCAB, dtype=torch.float64)
    batch = token_batch([(2, 5), (3, 1), (1, 7), (4, 4)], seed=1)
    labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
    token_logps = logprobs_from_logits(logits[:, :-1], batch["input_ids"][:, 1:])
    mask = batch["completion_mask"][:, 1:].double()
    for average in (False, True):
        expected = ORPOTrainer.get_batch_logps(logits, labels, average_log_prob=average)
        assert close(sequence_logprobs(token_logps, mask, average=average), expected)
        assert close(expected, CPOTrainer.get_batch_logps(logits, labels, average_log_prob=average))


# ---- DPO family: DPOTrainer._compute_loss ----


def dpo_trainer(model: TableLM, loss_type: str, beta: float, label_smoothing: float) -> DPOTrainer:
    trainer = object.__new__(DPOTrainer)
    trainer.model = model
    trainer.accelerator = FakeAccelerator()
    trainer.aux_loss_enabled = False
    trainer.ld_alpha = None
    trainer.precompute_ref_logps = True  # the reference log-probs come in the batch
    trainer.f_divergence_type = "reverse_kl"  # standard DPO
    trainer.loss_types = [loss_type]
    trainer.loss_weights = [1.0]
    trainer.beta = beta
    trainer.label_smoothing = label_smoothing
    trainer.use_weighting = False
    trainer._metrics = metrics()
    trainer._total_train_tokens = 0
    trainer._tp_size = 1
    return trainer


PAIR_LENGTHS = [(3, 4), (2, 6), (5, 1), (1, 3), (4, 5), (2, 2)]  # chosen rows; rejected rows are reversed


@pytest.mark.parametrize(
    ("loss_type", "beta", "label_smoothing"),
    [("sigmoid", 0.1, 0.0), ("sigmoid", 0.7, 0.0), ("hinge", 0.3, 0.0), ("robust", 0.2, 0.1), ("robust", 0.5, 0.3)],
)
def test_dpo_loss_matches_trl_dpo_trainer(loss_type: str, beta: float, label_smoothing: float) -> None:
    """The batch loss (the mean over pairs) and its gradient, from the same token log-probs."""
    batch = token_batch(PAIR_LENGTHS + PAIR_LENGTHS[::-1], seed=2)  # rows [chosen..., rejected...]
    n = len(PAIR_LENGTHS)
    generator = torch.Generator().manual_seed(3)
    ref = -torch.rand(2 * n, generator=generator, dtype=torch.float64) * 8
    inputs = {**batch, "ref_chosen_logps": ref[:n], "ref_rejected_logps": ref[n:]}

    trl_table = random_table(4)
    trainer = dpo_trainer(TableLM(trl_table), loss_type, beta, label_smoothing)
    trl_loss = trainer._compute_loss(trainer.model, inputs, return_outputs=False)
    trl_loss.backward()

    table = trl_table.detach().clone().requires_grad_()
    logps = our_sequence_logps(table, batch["input_ids"], batch["completion_mask"])
    out = dpo_loss(logps[:n], logps[n:], ref[:n], ref[n:], beta, loss_type, label_smoothing)
    out.losses.mean().backward()

    assert trl_loss.dtype == torch.float64
    assert close(out.losses.mean(), trl_loss)
    assert close(table.grad, trl_table.grad)
    # TRL logs the mean implicit rewards beta * (log pi - log pi_ref).
    assert out.chosen_rewards.mean().item() == pytest.approx(trainer._metrics["train"]["rewards/chosen"][-1], abs=ATOL)
    assert out.rejected_rewards.mean().item() == pytest.approx(
        trainer._metrics["train"]["rewards/rejected"][-1], abs=ATOL
    )


@pytest.mark.parametrize("alpha", [1.0, 0.3])
def test_rpo_matches_trl_sigmoid_plus_sft(alpha: float) -> None:
    """RPO as TRL 1.16 writes it (loss_type ['sigmoid', 'sft'], loss_weights [1, alpha]): its NLL
    is a mean over the batch's chosen tokens, alignlab's a mean per chosen response, the same
    when the chosen responses are equally long (as here; the rejected ones vary)."""
    lengths = [(3, 4), (2, 4), (5, 4), (1, 4)]
    batch = token_batch(lengths + [(p, r + i) for i, (p, r) in enumerate(lengths)], seed=8)
    n = len(lengths)
    ref = -torch.rand(2 * n, generator=torch.Generator().manual_seed(9), dtype=torch.float64) * 8
    inputs = {**batch, "ref_chosen_logps": ref[:n], "ref_rejected_logps": ref[n:]}

    trl_table = random_table(10)
    trainer = dpo_trainer(TableLM(trl_table), "sigmoid", 0.1, 0.0)
    trainer.loss_types, trainer.loss_weights = ["sigmoid", "sft"], [1.0, alpha]
    trl_loss = trainer._compute_loss(trainer.model, inputs, return_outputs=False)
    trl_loss.backward()

    table = trl_table.detach().clone().requires_grad_()
    logps = our_sequence_logps(table, batch["input_ids"], batch["completion_mask"])
    chosen_mean = our_sequence_logps(table, batch["input_ids"][:n], batch["completion_mask"][:n], average=True)
    out = with_chosen_nll(dpo_loss(logps[:n], logps[n:], ref[:n], ref[n:], 0.1), chosen_mean, alpha)
    out.losses.mean().backward()
    assert close(out.losses.mean(), trl_loss)
    assert close(table.grad, trl_table.grad)


@pytest.mark.parametrize("beta", [0.1, 0.5])
def test_ipo_matches_trl_after_its_length_normalisation(beta: float) -> None:
    """TRL's IPO divides each response's log-ratio by its number of completion tokens before the
    squared loss (documented in DPOTrainer: the IPO authors' normalised form). The same loss is
    alignlab's ``dpo_loss(..., "ipo")`` on per-token mean log-ratios."""
    batch = token_batch(PAIR_LENGTHS + PAIR_LENGTHS[::-1], seed=5)
    n = len(PAIR_LENGTHS)
    ref = -torch.rand(2 * n, generator=torch.Generator().manual_seed(6), dtype=torch.float64) * 8
    inputs = {**batch, "ref_chosen_logps": ref[:n], "ref_rejected_logps": ref[n:]}

    trl_table = random_table(7)
    trainer = dpo_trainer(TableLM(trl_table), "ipo", beta, 0.0)
    trl_loss = trainer._compute_loss(trainer.model, inputs, return_outputs=False)
    trl_loss.backward()

    table = trl_table.detach().clone().requires_grad_()
    lengths = batch["completion_mask"].sum(-1).double()
    logps = our_sequence_logps(table, batch["input_ids"], batch["completion_mask"]) / lengths
    ref_avg = ref / lengths
    out = dpo_loss(logps[:n], logps[n:], ref_avg[:n], ref_avg[n:], beta, "ipo")
    out.losses.mean().backward()
    assert close(out.losses.mean(), trl_loss)
    assert close(table.grad, trl_table.grad)


def cpo_trainer(loss_type: str, beta: float, label_smoothing: float = 0.0, simpo_gamma: float = 0.0) -> CPOTrainer:
    trainer = object.__new__(CPOTrainer)
    trainer.alpha = 0.0  # no AlphaPO reward transformation
    trainer.loss_type = loss_type
    trainer.beta = beta
    trainer.label_smoothing = label_smoothing
    trainer.simpo_gamma = simpo_gamma
    trainer.accelerator = FakeAccelerator()
    return trainer


@pytest.mark.parametrize(("beta", "label_smoothing"), [(0.1, 0.1), (0.5, 0.25), (1.0, 0.0)])
def test_conservative_dpo_matches_trl(beta: float, label_smoothing: float) -> None:
    """cDPO. TRL 1.16's DPOTrainer no longer smooths its "sigmoid" loss (label_smoothing is read by
    robust, exo_pair and aot only); its conservative sigmoid loss is CPOTrainer.cpo_loss
    (loss_type "sigmoid"), which is DPO with the reference dropped: given the log-ratios
    log pi - log pi_ref in place of the log-probs, it is cDPO exactly."""
    generator = torch.Generator().manual_seed(8)
    pc, pr, rc, rr = (-torch.rand(16, generator=generator, dtype=torch.float64) * 20 for _ in range(4))
    pc.requires_grad_()
    out = dpo_loss(pc, pr, rc, rr, beta, "sigmoid", label_smoothing)
    losses, chosen_rewards, rejected_rewards = cpo_trainer("sigmoid", beta, label_smoothing).cpo_loss(pc - rc, pr - rr)
    assert close(out.losses, losses)
    assert close(out.chosen_rewards, chosen_rewards) and close(out.rejected_rewards, rejected_rewards)
    (ours,) = torch.autograd.grad(out.losses.sum(), pc)
    (theirs,) = torch.autograd.grad(losses.sum(), pc)
    assert close(ours, theirs)


# ---- SimPO (CPOTrainer, loss_type "simpo") and ORPO (ORPOTrainer.odds_ratio_loss) ----


@pytest.mark.parametrize(("beta", "gamma"), [(2.0, 0.5), (2.5, 1.375), (10.0, 3.0)])
def test_simpo_matches_trl_cpo_trainer(beta: float, gamma: float) -> None:
    """TRL's CPOTrainer subtracts simpo_gamma / beta from the log-prob margin and multiplies by
    beta, which is SimPO's -log sigma(beta (avg_w - avg_l) - gamma)."""
    generator = torch.Generator().manual_seed(9)
    chosen, rejected = (-torch.rand(32, generator=generator, dtype=torch.float64) * 3 for _ in range(2))
    out = simpo_loss(chosen, rejected, beta, gamma)
    losses, chosen_rewards, rejected_rewards = cpo_trainer("simpo", beta, simpo_gamma=gamma).cpo_loss(chosen, rejected)
    assert close(out.losses, losses)
    assert close(out.chosen_rewards, chosen_rewards) and close(out.rejected_rewards, rejected_rewards)


def orpo_trainer(lam: float) -> ORPOTrainer:
    trainer = object.__new__(ORPOTrainer)
    trainer.beta = lam  # ORPOConfig.beta is the paper's lambda
    trainer.accelerator = FakeAccelerator()
    return trainer


@pytest.mark.parametrize("lam", [0.1, 1.0])
def test_orpo_matches_trl_odds_ratio_loss(lam: float) -> None:
    """TRL's odds_ratio_loss returns lambda * log sigma(log odds ratio) (the full loss being
    nll - its mean), in float32. alignlab's per-pair loss is nll - that term."""
    generator = torch.Generator().manual_seed(10)
    # per-token mean log-probs, on both sides of TRL's log1mexp branch at -ln 2, float32 like TRL
    chosen, rejected = (-(torch.rand(32, generator=generator) * 3 + 1e-3) for _ in range(2))
    nll = torch.rand(32, generator=generator)
    chosen.requires_grad_()
    out = orpo_loss(chosen, rejected, nll, lam)
    ratio_term, chosen_rewards, rejected_rewards, mean_ratio, mean_log_odds = orpo_trainer(lam).odds_ratio_loss(
        chosen, rejected
    )
    assert close(out.losses - nll, -ratio_term)
    assert close(out.chosen_rewards, chosen_rewards) and close(out.rejected_rewards, rejected_rewards)
    (ours,) = torch.autograd.grad(out.losses.sum(), chosen)
    (theirs,) = torch.autograd.grad(-ratio_term.sum(), chosen)
    assert close(ours, theirs)
    assert close((out.losses - nll).mean(), -lam * mean_ratio)


def test_orpo_matches_trl_for_a_confident_policy() -> None:
    """Mean log-probs near 0 (a policy that has learnt its chosen responses), float32. TRL uses
    a stable log(1 - e^x); alignlab's log1p(-exp(x)) loses relative precision there, but the
    loss stays within 1e-6 of TRL's."""
    chosen = torch.tensor([-1e-6, -1e-4, -1e-2, -0.5], dtype=torch.float32)
    rejected = torch.tensor([-1.0, -0.1, -2.0, -0.6], dtype=torch.float32)
    out = orpo_loss(chosen, rejected, torch.zeros(4), 1.0)
    ratio_term = orpo_trainer(1.0).odds_ratio_loss(chosen, rejected)[0]
    assert close(out.losses, -ratio_term)


# ---- KTO: KTOTrainer._compute_loss ----


@pytest.mark.parametrize(
    ("beta", "desirable_weight", "undesirable_weight", "ref_kl_shift"),
    [(0.1, 1.0, 1.0, -4.0), (0.5, 1.33, 0.75, -4.0), (2.0, 1.0, 1.5, -4.0), (0.5, 1.0, 1.0, 8.0)],
)
def test_kto_loss_matches_trl_kto_trainer(
    beta: float, desirable_weight: float, undesirable_weight: float, ref_kl_shift: float
) -> None:
    """The batch loss (mean over completions), its gradient and the reference point z0 from the
    mismatched (KL) completions, TRL's ``kl`` metric; ``ref_kl_shift`` 8 makes the KL estimate
    negative, so that z0 is clamped to 0."""
    lengths = [(2, 4), (3, 2), (1, 6), (4, 3), (2, 5), (3, 3), (5, 1)]
    batch = token_batch(lengths, seed=11)
    kl_batch = token_batch(lengths[1:] + lengths[:1], seed=12)  # prompt i with completion i + 1
    label = torch.tensor([True, False, True, True, False, False, True])
    generator = torch.Generator().manual_seed(13)
    ref_logps = -torch.rand(len(lengths), generator=generator, dtype=torch.float64) * 12
    ref_kl_logps = -torch.rand(len(lengths), generator=generator, dtype=torch.float64) * 12 + ref_kl_shift
    inputs = {
        **batch,
        "KL_input_ids": kl_batch["input_ids"],
        "KL_attention_mask": kl_batch["attention_mask"],
        "KL_completion_mask": kl_batch["completion_mask"],
        "label": label,
        "ref_logps": ref_logps,
        "ref_KL_logps": ref_kl_logps,
    }

    trl_table = random_table(14)
    trainer = object.__new__(KTOTrainer)
    trainer.model = TableLM(trl_table)
    trainer.accelerator = FakeAccelerator()
    trainer.calculate_KL = True
    trainer.aux_loss_enabled = False
    trainer.precompute_ref_logps = True
    trainer.loss_type = "kto"
    trainer.beta = beta
    trainer.desirable_weight = desirable_weight
    trainer.undesirable_weight = undesirable_weight
    trainer._metrics = metrics()
    trainer._total_train_tokens = 0
    trainer._tp_size = 1
    trl_loss = trainer._compute_loss(trainer.model, inputs, return_outputs=False)
    trl_loss.backward()

    table = trl_table.detach().clone().requires_grad_()
    logps = our_sequence_logps(table, batch["input_ids"], batch["completion_mask"])
    kl_logps = our_sequence_logps(table, kl_batch["input_ids"], kl_batch["completion_mask"])
    z0 = kto_reference_point(kl_logps, ref_kl_logps)
    losses, rewards = kto_loss(logps, ref_logps, label, z0, beta, desirable_weight, undesirable_weight)
    losses.mean().backward()

    raw_kl = (kl_logps - ref_kl_logps).mean().item()
    assert (raw_kl > 0) == (ref_kl_shift < 0)  # live KL term, or a negative estimate clamped to 0
    assert z0.item() == pytest.approx(max(raw_kl, 0.0))
    assert z0.item() == pytest.approx(trainer._metrics["train"]["kl"][-1], abs=ATOL)
    assert close(losses.mean(), trl_loss)
    assert close(table.grad, trl_table.grad)
    assert rewards[label].mean().item() == pytest.approx(trainer._metrics["train"]["rewards/chosen"][-1], abs=ATOL)
    assert rewards[~label].mean().item() == pytest.approx(trainer._metrics["train"]["rewards/rejected"][-1], abs=ATOL)


# ---- Bradley-Terry: RewardTrainer.compute_loss ----


def test_bradley_terry_matches_trl_reward_trainer() -> None:
    scores = torch.randn(16, 1, generator=torch.Generator().manual_seed(15), dtype=torch.float64) * 3
    scores.requires_grad_()
    trainer = object.__new__(RewardTrainer)
    trainer.model = SimpleNamespace(training=True)
    trainer.args = SimpleNamespace(center_rewards_coefficient=None)
    trainer.accelerator = FakeAccelerator()
    trainer._metrics = metrics()
    trainer._total_train_tokens = 0
    trainer._tp_size = 1

    def model(**kwargs):
        return SimpleNamespace(logits=scores)

    inputs = {"input_ids": torch.ones(16, 3, dtype=torch.long), "attention_mask": torch.ones(16, 3, dtype=torch.long)}
    trl_loss = trainer.compute_loss(model, inputs)
    ours = bradley_terry_loss(scores[:8, 0], scores[8:, 0]).mean()
    assert close(ours, trl_loss)
    assert close(torch.autograd.grad(ours, scores)[0], torch.autograd.grad(trl_loss, scores)[0])


# ---- GRPO and its variants: GRPOTrainer._compute_loss ----

GRPO_LENGTHS = [5, 2, 7, 1, 4, 0, 6]  # the empty row (a masked-out truncated completion) still counts in grpo
GRPO_WIDTH = 7
MAX_COMPLETION_LENGTH = 9  # the configured max, wider than this batch's padding, as dr_grpo must use


def completion_mask_of(lengths: list[int], width: int) -> torch.Tensor:
    return (torch.arange(width).unsqueeze(0) < torch.tensor(lengths).unsqueeze(1)).long()


def grpo_inputs(seed: int, lengths=GRPO_LENGTHS, width=GRPO_WIDTH, spread: float = 0.4):
    """A micro-batch as GRPO's _compute_loss takes it, with per-token log-probs of the current,
    old (sampling) and reference policies; ``spread`` puts many ratios outside [0.8, 1.28]."""
    generator = torch.Generator().manual_seed(seed)
    b = len(lengths)
    mask = completion_mask_of(lengths, width)
    logps = -torch.rand(b, width, generator=generator, dtype=torch.float64) * 3
    old = logps + torch.randn(b, width, generator=generator, dtype=torch.float64) * spread
    ref = logps + torch.randn(b, width, generator=generator, dtype=torch.float64) * 0.5
    advantages = torch.randn(b, generator=generator, dtype=torch.float64).abs() + 0.1
    advantages[1::2] *= -1
    # Whole sequences off-policy too, so that sequence-level (GSPO) ratios leave the clip range on
    # both sides: row 0 (A > 0) has ratio ~e^0.5, row 1 (A < 0) ~e^-0.5.
    old[0] -= 0.5
    old[1] += 0.5
    inputs = {
        "prompt_ids": torch.ones(b, 3, dtype=torch.long),
        "prompt_mask": torch.ones(b, 3, dtype=torch.long),
        "completion_ids": torch.ones(b, width, dtype=torch.long),
        "completion_mask": mask,
        "advantages": advantages,
        "old_per_token_logps": old,
        "ref_per_token_logps": ref,
        "num_items_in_batch": mask.sum(),
    }
    return logps, inputs


def grpo_trainer(
    logps: torch.Tensor,
    loss_type: str,
    level: str,
    beta: float,
    epsilon_low: float,
    epsilon_high: float,
    accumulation_steps: int = 1,
    steps_per_generation: int = 1,
    use_bias_correction_kl: bool = False,
    sapo_temperature_pos: float = 1.0,
    sapo_temperature_neg: float = 1.05,
) -> GRPOTrainer:
    trainer = object.__new__(GRPOTrainer)
    trainer.model = SimpleNamespace(training=True)
    trainer.accelerator = FakeAccelerator()
    trainer.args = SimpleNamespace(
        use_bias_correction_kl=use_bias_correction_kl,
        delta=None,
        steps_per_generation=steps_per_generation,
        sapo_temperature_pos=sapo_temperature_pos,
        sapo_temperature_neg=sapo_temperature_neg,
    )
    trainer.top_entropy_quantile = 1.0
    trainer.aux_loss_enabled = False
    trainer.off_policy_mask_threshold = None
    trainer.importance_sampling_level = level
    trainer.beta = beta
    trainer.loss_type = loss_type
    trainer.epsilon_low = epsilon_low
    trainer.epsilon_high = epsilon_high
    trainer.use_vllm = False
    trainer.vllm_importance_sampling_correction = False
    trainer.current_gradient_accumulation_steps = accumulation_steps
    trainer.max_completion_length = MAX_COMPLETION_LENGTH
    trainer._entropy_bonus_enabled = False
    trainer._metrics = metrics()
    # The forward pass of the policy, replaced: its per-token log-probs (and entropies) are given.
    trainer._get_per_token_logps_and_entropies = lambda *args, **kwargs: (logps, torch.zeros_like(logps), None)
    return trainer


def aggregate(per_token: torch.Tensor, mask: torch.Tensor, aggregation: str) -> torch.Tensor:
    """One batch's loss on its own, as alignlab's trainer forms it: ``token_weights``' weighted sum
    over its units."""
    weights, units = token_weights(mask, aggregation, MAX_COMPLETION_LENGTH)
    return (per_token * weights).sum() / max(units, 1.0)


def our_grpo_loss(logps, inputs, aggregation, level, beta, clip_low, clip_high):
    """How alignlab's policy-gradient trainer builds its loss: the clipped surrogate, plus beta * k3
    per token when the KL is a loss term, aggregated by ``token_weights``."""
    mask = inputs["completion_mask"].double()
    pg = clipped_surrogate(logps, inputs["old_per_token_logps"], inputs["advantages"], mask, clip_low, clip_high, level)
    per_token = pg.losses + beta * kl_estimate(logps, inputs["ref_per_token_logps"], "k3") * mask
    return aggregate(per_token, mask, aggregation)


# TRL loss_type -> alignlab aggregation: bnpo (TRL's local mean over tokens) is alignlab's token_mean.
AGGREGATIONS = {"grpo": "grpo", "dr_grpo": "dr_grpo", "dapo": "dapo", "bnpo": "token_mean"}


@pytest.mark.parametrize("loss_type", list(AGGREGATIONS))
@pytest.mark.parametrize("level", ["token", "sequence"])
@pytest.mark.parametrize(("beta", "eps_low", "eps_high"), [(0.0, 0.2, 0.2), (0.04, 0.2, 0.28), (0.1, 0.1, 0.3)])
def test_grpo_loss_matches_trl(loss_type: str, level: str, beta: float, eps_low: float, eps_high: float) -> None:
    """Every aggregation at token level and at sequence level (GSPO), with and without the k3 KL
    term, symmetric and asymmetric (clip-higher) bounds: the loss and its gradient."""
    logps, inputs = grpo_inputs(seed=16)
    trl_logps = logps.clone().requires_grad_()
    trainer = grpo_trainer(trl_logps, loss_type, level, beta, eps_low, eps_high)
    trl_loss = trainer._compute_loss(trainer.model, inputs)
    (trl_grad,) = torch.autograd.grad(trl_loss, trl_logps)

    our_logps = logps.clone().requires_grad_()
    ours = our_grpo_loss(our_logps, inputs, AGGREGATIONS[loss_type], level, beta, eps_low, eps_high)
    (our_grad,) = torch.autograd.grad(ours, our_logps)
    assert close(ours, trl_loss)
    assert close(our_grad, trl_grad)
    if level == "token":  # TRL's clip_ratio/region_mean is alignlab's clipped flags, token-averaged
        mask = inputs["completion_mask"].double()
        clipped = clipped_surrogate(
            logps, inputs["old_per_token_logps"], inputs["advantages"], mask, eps_low, eps_high
        ).clipped
        region = trainer._metrics["train"]["clip_ratio/region_mean"][-1]
        assert ((clipped * mask).sum() / mask.sum()).item() == pytest.approx(region, abs=ATOL)
    # The inputs exercise both clipped branches (TRL's own metrics say so).
    assert trainer._metrics["train"]["clip_ratio/low_mean"][-1] > 0
    assert trainer._metrics["train"]["clip_ratio/high_mean"][-1] > 0


@pytest.mark.parametrize("loss_type", list(AGGREGATIONS))
@pytest.mark.parametrize("split", ["accumulation", "processes"])
def test_grpo_split_batches_match_trl(loss_type: str, split: str) -> None:
    """One optimizer step over two micro-batches, either accumulated on one process or one on
    each of two processes (DDP averages their gradients, so the step's loss is the mean of the
    two). TRL divides each micro-batch's loss by the accumulation steps (grpo, bnpo, dr_grpo), or
    by the window's active tokens from num_items_in_batch, the generation batch's token count over
    all processes (dapo); alignlab sums ``loss * weights`` over the step and divides once by the
    summed units. Equal when the micro-batches hold the same number of sequences, as TRL's do.
    TRL's bnpo is a local token mean, so it is compared with token_mean per micro-batch."""
    parts = [grpo_inputs(seed=17, lengths=[5, 2, 7], width=7), grpo_inputs(seed=18, lengths=[1, 3, 1], width=3)]
    total_tokens = sum(inputs["completion_mask"].sum() for _, inputs in parts)
    trl_losses = []
    for logps, inputs in parts:
        inputs["num_items_in_batch"] = total_tokens
        if split == "accumulation":
            trainer = grpo_trainer(
                logps, loss_type, "token", 0.04, 0.2, 0.28, accumulation_steps=2, steps_per_generation=2
            )
        else:
            trainer = grpo_trainer(logps, loss_type, "token", 0.04, 0.2, 0.28)
            trainer.accelerator.num_processes = 2
        trl_losses.append(trainer._compute_loss(trainer.model, inputs))
    trl_step = sum(trl_losses) if split == "accumulation" else sum(trl_losses) / 2

    aggregation = AGGREGATIONS[loss_type]
    weighted, units, local_means = 0.0, 0.0, []
    for logps, inputs in parts:
        mask = inputs["completion_mask"].double()
        pg = clipped_surrogate(logps, inputs["old_per_token_logps"], inputs["advantages"], mask, 0.2, 0.28)
        per_token = pg.losses + 0.04 * kl_estimate(logps, inputs["ref_per_token_logps"], "k3") * mask
        weights, n = token_weights(mask, aggregation, MAX_COMPLETION_LENGTH)
        weighted, units = weighted + (per_token * weights).sum(), units + n
        local_means.append(aggregate(per_token, mask, aggregation))
    ours = sum(local_means) / 2 if loss_type == "bnpo" else weighted / units
    assert close(ours, trl_step)


def test_grpo_k3_kl_matches_trl() -> None:
    """TRL's per-token KL is k3 of the reference against the policy, exp(ref - logp) - (ref - logp) - 1,
    which is alignlab's kl_estimate(logprobs, ref_logprobs, "k3"). With zero advantages the GRPO loss
    is beta * the masked token mean of it (bnpo), and TRL logs its mean as ``kl``."""
    logps, inputs = grpo_inputs(seed=19)
    inputs["advantages"] = torch.zeros_like(inputs["advantages"])
    trainer = grpo_trainer(logps, "bnpo", "token", 0.5, 0.2, 0.2)
    trl_loss = trainer._compute_loss(trainer.model, inputs)
    mask = inputs["completion_mask"].double()
    k3 = kl_estimate(logps, inputs["ref_per_token_logps"], "k3")
    mean_k3 = (k3 * mask).sum() / mask.sum()
    assert close(0.5 * mean_k3, trl_loss)
    assert mean_k3.item() == pytest.approx(trainer._metrics["train"]["kl"][-1], abs=ATOL)


# ---- the loss types TRL 1.16 added: CISPO, SAPO, and the importance-weighted KL ----


def trl_loss_and_grad(logps: torch.Tensor, inputs: dict, loss_type: str, level: str, beta: float, **settings):
    """TRL's loss for ``loss_type`` on ``inputs`` and its gradient with respect to the policy's
    token log-probs; returns (loss, gradient, trainer) so that its metrics can be read."""
    trl_logps = logps.clone().requires_grad_()
    trainer = grpo_trainer(trl_logps, loss_type, level, beta, **settings)
    loss = trainer._compute_loss(trainer.model, inputs)
    (grad,) = torch.autograd.grad(loss, trl_logps)
    return loss, grad, trainer


@pytest.mark.parametrize("level", ["token", "sequence"])
@pytest.mark.parametrize(("beta", "max_ratio"), [(0.0, 1.2), (0.04, 1.25), (0.0, 5.0)])
def test_cispo_matches_trl(level: str, beta: float, max_ratio: float) -> None:
    """TRL's cispo: the weight clamp(r, max=epsilon_high), detached, times -A log pi, aggregated
    over all tokens of the batch (num_items_in_batch, here the micro-batch's tokens: alignlab's
    token_mean). With cap 5 no ratio of these inputs is capped: plain importance-weighted REINFORCE."""
    logps, inputs = grpo_inputs(seed=22)
    trl_loss, trl_grad, trainer = trl_loss_and_grad(
        logps, inputs, "cispo", level, beta, epsilon_low=0.2, epsilon_high=max_ratio
    )
    our_logps = logps.clone().requires_grad_()
    mask = inputs["completion_mask"].double()
    out = cispo_surrogate(our_logps, inputs["old_per_token_logps"], inputs["advantages"], mask, max_ratio, level)
    per_token = out.losses + beta * kl_estimate(our_logps, inputs["ref_per_token_logps"], "k3") * mask
    ours = aggregate(per_token, mask, "token_mean")
    (our_grad,) = torch.autograd.grad(ours, our_logps)
    assert close(ours, trl_loss)
    assert close(our_grad, trl_grad)
    # TRL's cispo_clip_ratio counts the capped tokens whose advantage is positive, over tokens; at
    # sequence level, the capped sequences over sequences (an empty one has ratio 1, never capped).
    capped = out.clipped * (inputs["advantages"] > 0).double().unsqueeze(1)
    clip_ratio = (capped.sum() / mask.sum() if level == "token" else capped.amax(-1).mean()).item()
    assert clip_ratio == pytest.approx(trainer._metrics["train"]["cispo_clip_ratio"][-1], abs=ATOL)
    # The inputs cap some weights under the tight caps, none under ScaleRL's 5.
    assert (out.clipped.sum().item() > 0) == (max_ratio < 5.0)


@pytest.mark.parametrize("level", ["token", "sequence"])
@pytest.mark.parametrize(("beta", "tau_pos", "tau_neg"), [(0.0, 1.0, 1.05), (0.04, 1.0, 1.05), (0.0, 0.5, 4.0)])
def test_sapo_matches_trl(level: str, beta: float, tau_pos: float, tau_neg: float) -> None:
    """TRL's sapo: the soft gate sigmoid(tau (r - 1)) * 4 / tau, tau by the advantage's sign,
    aggregated as grpo (each sequence's token mean, then the mean over sequences)."""
    logps, inputs = grpo_inputs(seed=23)
    trl_loss, trl_grad, _ = trl_loss_and_grad(
        logps,
        inputs,
        "sapo",
        level,
        beta,
        epsilon_low=0.2,
        epsilon_high=0.2,
        sapo_temperature_pos=tau_pos,
        sapo_temperature_neg=tau_neg,
    )
    our_logps = logps.clone().requires_grad_()
    mask = inputs["completion_mask"].double()
    out = sapo_surrogate(our_logps, inputs["old_per_token_logps"], inputs["advantages"], mask, tau_pos, tau_neg, level)
    per_token = out.losses + beta * kl_estimate(our_logps, inputs["ref_per_token_logps"], "k3") * mask
    ours = aggregate(per_token, mask, "grpo")
    (our_grad,) = torch.autograd.grad(ours, our_logps)
    assert close(ours, trl_loss)
    assert close(our_grad, trl_grad)


@pytest.mark.parametrize("loss_type", ["grpo", "dapo", "cispo", "sapo"])
@pytest.mark.parametrize("level", ["token", "sequence"])
def test_importance_weighted_kl_matches_trl_bias_correction(loss_type: str, level: str) -> None:
    """TRL 1.16's default use_bias_correction_kl=True: the k3 term times the (differentiable)
    importance ratio of the level, token or sequence. Zero advantages isolate the KL term (its
    loss, its gradient and TRL's ``kl`` metric); then the whole loss of each loss type with it."""
    aggregation = {"grpo": "grpo", "dapo": "token_mean", "cispo": "token_mean", "sapo": "grpo"}[loss_type]
    surrogate = {
        "grpo": lambda lp, old, a, m: clipped_surrogate(lp, old, a, m, 0.2, 0.28, level),
        "dapo": lambda lp, old, a, m: clipped_surrogate(lp, old, a, m, 0.2, 0.28, level),
        "cispo": lambda lp, old, a, m: cispo_surrogate(lp, old, a, m, 0.28, level),
        "sapo": lambda lp, old, a, m: sapo_surrogate(lp, old, a, m, 1.0, 1.05, level),
    }[loss_type]
    logps, inputs = grpo_inputs(seed=24)
    mask = inputs["completion_mask"].double()
    settings = {"epsilon_low": 0.2, "epsilon_high": 0.28, "use_bias_correction_kl": True}
    for advantages in (torch.zeros_like(inputs["advantages"]), inputs["advantages"]):
        batch = {**inputs, "advantages": advantages}
        trl_loss, trl_grad, trainer = trl_loss_and_grad(logps, batch, loss_type, level, 0.3, **settings)
        our_logps = logps.clone().requires_grad_()
        kl = importance_weighted_kl(our_logps, batch["old_per_token_logps"], batch["ref_per_token_logps"], mask, level)
        pg = surrogate(our_logps, batch["old_per_token_logps"], advantages, mask)
        ours = aggregate(pg.losses + 0.3 * kl, mask, aggregation)
        (our_grad,) = torch.autograd.grad(ours, our_logps)
        assert close(ours, trl_loss)
        assert close(our_grad, trl_grad)
        mean_kl = ((kl * mask).sum() / mask.sum()).item()
        assert mean_kl == pytest.approx(trainer._metrics["train"]["kl"][-1], abs=ATOL)
    # Off-policy inputs: the corrected term differs from plain k3 (else this test proves nothing).
    plain = kl_estimate(logps, inputs["ref_per_token_logps"], "k3") * mask
    assert (kl.detach() - plain).abs().max().item() > 0.1


# ---- advantages: GRPOTrainer and RLOOTrainer._generate_and_score_completions ----


def rollout_trainer(cls, lengths: list[int], rewards: torch.Tensor, num_generations: int):
    """A GRPO or RLOO trainer whose generation, reward functions and logging are stand-ins, so
    that _generate_and_score_completions runs its own advantage computation on ``rewards``."""
    trainer = object.__new__(cls)
    trainer.model = SimpleNamespace(training=True, is_gradient_checkpointing=False)
    trainer.accelerator = FakeAccelerator()
    trainer.args = SimpleNamespace(
        per_device_train_batch_size=len(lengths),
        gradient_checkpointing_kwargs=None,
        steps_per_generation=1,
        gradient_accumulation_steps=1,
    )
    trainer._tokenizer = SimpleNamespace(pad_token_id=0)
    trainer.pad_to_multiple_of = None
    trainer.mask_truncated_completions = False
    trainer.num_generations = num_generations
    trainer.reward_weights = torch.ones(1)
    trainer.reward_func_names = ["reward"]
    trainer.reward_clip_range = None
    trainer.beta = 0.0
    trainer.ref_model = None
    trainer.use_vllm = False
    trainer.log_multimodal = False
    trainer._metrics = metrics()
    trainer._logs = {"prompt": [], "completion": [], "rewards": defaultdict(list), "advantages": [], "extra": {}}
    trainer._pending_extra_logs = {}
    trainer._pending_metrics = {}
    prompt_ids = [[1, 2]] * len(lengths)
    completion_ids = [[3] * n for n in lengths]
    if cls is GRPOTrainer:
        trainer.environment_factories = None
        trainer.environments = None
        trainer.tools = None
        trainer.num_iterations = 1
        trainer.multi_objective_aggregation = "sum_then_normalize"
        generated = (prompt_ids, completion_ids, None, ["c"] * len(lengths), None, None, None, None)
    else:
        generated = (prompt_ids, completion_ids, ["c"] * len(lengths))
    trainer._generate = lambda prompts: generated
    trainer._calculate_rewards = lambda *args: rewards.view(-1, 1)
    return trainer


@pytest.mark.parametrize("scale", [True, False])
def test_group_advantages_match_trl_grpo(scale: bool) -> None:
    """scale_rewards "group" (GRPO) and "none" (Dr. GRPO); the last group's rewards are all equal.
    TRL also returns num_items_in_batch, the active tokens: alignlab's dapo units."""
    rewards = torch.randn(4, 5, generator=torch.Generator().manual_seed(20))
    rewards[3] = 0.5
    lengths = [1 + (i * 7) % 6 for i in range(20)]
    trainer = rollout_trainer(GRPOTrainer, lengths, rewards.flatten(), num_generations=5)
    trainer.scale_rewards = "group" if scale else "none"
    output = trainer._generate_and_score_completions([{"prompt": "p"}] * 20)
    assert close(group_advantages(rewards, scale=scale).flatten(), output["advantages"])
    assert output["num_items_in_batch"].item() == sum(lengths)
    assert output["advantages"][15:].abs().max().item() == 0.0


def test_group_advantages_of_single_completion_groups_match_trl_grpo() -> None:
    rewards = torch.tensor([[0.3], [-1.2], [2.0]])
    trainer = rollout_trainer(GRPOTrainer, [2, 3, 1], rewards.flatten(), num_generations=1)
    trainer.scale_rewards = "group"
    output = trainer._generate_and_score_completions([{"prompt": "p"}] * 3)
    assert output["advantages"].tolist() == [0.0, 0.0, 0.0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch: std() degrees of freedom <= 0
        ours = group_advantages(rewards, scale=True).flatten()
    assert close(ours, output["advantages"])


@pytest.mark.parametrize("kl_coef", [0.0, 0.05])
def test_leave_one_out_advantages_match_trl_rloo(kl_coef: float) -> None:
    """RLOO: the reward minus the sequence k1 KL (sum over tokens of log pi_old - log pi_ref, as in
    alignlab's ``kl_in_reward``), minus the mean of the other k - 1 (TRL's normalize_advantages
    off: RLOO's paper does not normalise, and alignlab's RLOO does not)."""
    k, prompts = 4, 3
    generator = torch.Generator().manual_seed(21)
    rewards = torch.randn(prompts * k, generator=generator)
    lengths = [1 + (i * 5) % 7 for i in range(prompts * k)]
    width = max(lengths)
    old = -torch.rand(prompts * k, width, generator=generator) * 3
    ref = old + torch.randn(prompts * k, width, generator=generator) * 0.3
    trainer = rollout_trainer(RLOOTrainer, lengths, rewards, num_generations=k)
    trainer.beta = kl_coef
    trainer.ref_model = object()
    trainer.normalize_advantages = False
    trainer._get_per_token_logps_and_entropies = lambda model, *args, **kwargs: (
        (ref if model is trainer.ref_model else old),
        None,
        None,
    )
    output = trainer._generate_and_score_completions([{"prompt": "p"}] * (prompts * k))

    mask = completion_mask_of(lengths, width).float()
    seq_kl = (kl_estimate(old, ref, "k1") * mask).sum(-1)
    ours = leave_one_out_advantages((rewards - kl_coef * seq_kl).view(prompts, k)).flatten()
    assert close(ours, output["advantages"])
    assert close(sequence_logprobs(old, mask), output["old_logps"])


# ---- what TRL 1.16 lacks ----


def test_no_ppo_in_trl() -> None:
    if hasattr(trl, "PPOTrainer") or hasattr(trl.experimental, "ppo"):
        pytest.fail("TRL now has a PPO trainer: add it as an oracle for GAE, value clipping and whitening")
    pytest.skip(
        "TRL 1.16 has no PPOTrainer (not in trl, nor in trl.experimental): no oracle for gae_advantages, "
        "returns_to_go, clipped_value_losses, global_whiten, token_rewards, adaptive_kl_coef"
    )


def test_hand_value_sanity_of_the_fake_model() -> None:
    """TableLM's sequence log-prob of a row is the sum of the table over its completion labels."""
    table = torch.tensor([0.0, -1.0, -2.0, -3.0], dtype=torch.float64)
    ids = torch.tensor([[1, 2, 3, 1]])
    completion = torch.tensor([[0, 1, 1, 0]])
    log_probs = TableLM(table)(labels=ids.masked_fill(completion == 0, -100), fused_lm_head=True).log_probs
    assert log_probs.tolist() == [[-2.0, -3.0, 0.0]]
    assert our_sequence_logps(table, ids, completion).item() == -5.0
