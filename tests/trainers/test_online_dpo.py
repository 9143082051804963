"""Online DPO: pairs labelled from the policy's own samples, ties left out, and the loss of a
minibatch equal to DPO's on the labelled pairs."""

from __future__ import annotations

import pytest
import torch

from alignlab.config import OnlineDPOConfig
from alignlab.losses import dpo_loss
from alignlab.rollout import Rollout
from alignlab.scoring import TokenScores
from alignlab.trainers.minibatches import Minibatch
from alignlab.trainers.online_dpo import PairData, labelled_pairs, online_dpo_loss, pair_labels


def test_pairs_are_labelled_by_the_higher_score_and_ties_left_out() -> None:
    scores = torch.tensor([0.9, 0.1, 0.2, 0.7, 0.5, 0.5])
    first_chosen, labelled = pair_labels(scores)
    assert first_chosen.tolist() == [1, 1, 0, 0, 0, 0]
    assert labelled.tolist() == [1, 1, 1, 1, 0, 0]


class FixedLogprobs(torch.nn.Module):
    """A stand-in policy whose per-token log-probs are given (one row per sequence)."""

    def __init__(self, logprobs: torch.Tensor) -> None:
        super().__init__()
        self.logprobs = torch.nn.Parameter(logprobs)

    def forward(self, sequences, temperature: float = 1.0, with_entropy: bool = False) -> TokenScores:
        return TokenScores(logprobs=self.logprobs * sequences.response_mask)


def rollout(rows: int, width: int) -> Rollout:
    ids = torch.ones(rows, width, dtype=torch.long)
    return Rollout(
        prompt_ids=torch.ones(rows, 1, dtype=torch.long),
        prompt_mask=torch.ones(rows, 1, dtype=torch.long),
        response_ids=ids,
        response_mask=torch.ones_like(ids),
        ended=torch.ones(rows, dtype=torch.bool),
    )


@pytest.mark.parametrize("loss_type", ["sigmoid", "ipo"])
def test_the_loss_is_dpo_on_the_labelled_pairs_only(loss_type: str) -> None:
    generator = torch.Generator().manual_seed(0)
    logprobs = -torch.rand(6, 3, generator=generator)
    ref = -torch.rand(6, generator=generator) * 3
    scores = torch.tensor([0.9, 0.1, 0.2, 0.7, 0.5, 0.5])  # the third pair is a tie
    first_chosen, labelled = pair_labels(scores)
    data = PairData(ref, first_chosen, labelled)
    batch = rollout(6, 3)
    weights, units = labelled_pairs(batch, data)
    assert units == 2.0
    cfg = OnlineDPOConfig(beta=0.3, loss_type=loss_type, batch_size=6)
    minibatch = Minibatch(batch, data, weights, 1 / units)
    loss, stats = online_dpo_loss(cfg, 1.0, False, FixedLogprobs(logprobs), minibatch)

    sequence = logprobs.sum(-1)
    # Pair 1: row 0 chosen over row 1; pair 2: row 3 chosen over row 2.
    expected = dpo_loss(
        torch.stack([sequence[0], sequence[3]]),
        torch.stack([sequence[1], sequence[2]]),
        torch.stack([ref[0], ref[3]]),
        torch.stack([ref[1], ref[2]]),
        beta=0.3,
        loss_type=loss_type,
    ).losses.mean()
    assert loss.item() == pytest.approx(expected.item(), rel=1e-6)
    assert stats["rewards/accuracy"].item() <= 1.0


def test_the_kl_logged_from_the_update_is_the_policys_on_every_row() -> None:
    """With one minibatch an iteration the update's forward logs the sampled policy's KL to the
    reference: the mean over the minibatch's rows (ties too) of each sequence's summed log-ratio."""
    logprobs = torch.tensor([[-1.0, -2.0], [-0.5, -0.5], [-3.0, -1.0], [-2.0, -2.0]])
    ref = torch.tensor([-4.0, -2.0, -4.0, -5.0])  # sequence log-ratios 1, 1, 0, 1
    first_chosen, labelled = pair_labels(torch.tensor([0.9, 0.1, 0.5, 0.5]))
    data = PairData(ref, first_chosen, labelled)
    batch = rollout(4, 2)
    weights, units = labelled_pairs(batch, data)
    cfg = OnlineDPOConfig(batch_size=4)
    _, stats = online_dpo_loss(cfg, 1.0, True, FixedLogprobs(logprobs), Minibatch(batch, data, weights, 1 / units))
    assert stats["objective/kl"].item() == pytest.approx(0.75)
    _, without = online_dpo_loss(cfg, 1.0, False, FixedLogprobs(logprobs), Minibatch(batch, data, weights, 1 / units))
    assert "objective/kl" not in without
