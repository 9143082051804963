"""The offline loop's held-out split: by prompt, so no held-out pair shares a prompt (or the
completions a prompt's pairs are drawn from) with a training pair."""

from __future__ import annotations

from alignlab.data import TokenizedPair
from alignlab.trainers.offline import split_train_eval


def pairs_of(prompts: int, per_prompt: int) -> list[TokenizedPair]:
    return [TokenizedPair([p, 1], [10 + j], [20 + j]) for p in range(prompts) for j in range(per_prompt)]


def test_held_out_pairs_share_no_prompt_with_training_pairs() -> None:
    pairs = pairs_of(prompts=50, per_prompt=4)
    train, held_out = split_train_eval(pairs, 0.1, seed=3, prompt_of=lambda pair: pair.prompt)
    assert {tuple(p.prompt) for p in train}.isdisjoint(tuple(p.prompt) for p in held_out)
    assert len(train) + len(held_out) == len(pairs)
    # Whole prompts are held out until a tenth of the pairs are: 5 prompts of 4 pairs.
    assert len(held_out) == 20 and len({tuple(p.prompt) for p in held_out}) == 5


def test_the_split_is_seeded() -> None:
    pairs = pairs_of(prompts=30, per_prompt=3)
    first = split_train_eval(pairs, 0.2, seed=1, prompt_of=lambda pair: pair.prompt)
    assert split_train_eval(pairs, 0.2, seed=1, prompt_of=lambda pair: pair.prompt) == first
    assert split_train_eval(pairs, 0.2, seed=2, prompt_of=lambda pair: pair.prompt) != first
    assert split_train_eval(pairs, 0.0, seed=1, prompt_of=lambda pair: pair.prompt) == (pairs, [])
