"""The arithmetic task's reward: which completions it reads an answer from and which it refuses,
format and correctness apart, and the pass@k estimator against hand-worked values and a count of
subsets."""

from __future__ import annotations

import itertools

import pytest

from alignlab.errors import AlignlabError
from alignlab.tasks.arithmetic_reward import ArithmeticReward, judge, parse_answer
from alignlab.tasks.verifiable import Verdict, mean_pass_at_k, pass_at_k

WORKED = "7 + 5 = 12\n12 - 4 = 8\n8 * 2 = 16\n"


@pytest.mark.parametrize(
    ("completion", "answer"),
    [
        ("Answer: 42", 42),
        ("Answer: 0", 0),
        ("Answer: -7", -7),
        ("Answer:42", 42),  # no space after the colon
        ("   Answer:   42   ", 42),  # spaces around
        ("\tAnswer: 42\t", 42),
        (WORKED + "Answer: 16", 16),  # after reasoning lines, cut at EOS
        (WORKED + "Answer: 16\n", 16),  # ... or ending with a newline
        (WORKED + "Answer: 16\n\n  \n", 16),  # ... or with blank lines after it
        ("\n\nAnswer: 16", 16),  # blank lines before it
        ("7 + 5 = 12\n12 - 20 = -8\nAnswer: -8", -8),  # a negative count after a slip
        ("Answer: 1234567890123", 1234567890123),  # no overflow
        ("12 - 4 = 8\r\nAnswer: 8\r\n", 8),  # Windows line ends
    ],
)
def test_parses_every_well_formed_answer(completion: str, answer: int) -> None:
    assert parse_answer(completion) == answer


@pytest.mark.parametrize(
    "completion",
    [
        "",  # nothing
        "   \n  ",
        "7 + 5 = 12\n12 - 4 = 8",  # reasoning without an answer line
        "So Lena has 8 marbles.",  # a loose ending
        WORKED + "The answer is 16.",
        "Answer: 8\nAnswer: 8",  # two answers, even equal ones
        "Answer: 3\n12 - 4 = 8\nAnswer: 8",
        "Answer: 16\n16 - 1 = 15",  # the answer not at the end
        "Answer: 16\nSo Lena has 16 marbles.",
        "Answer: 3.5",  # not integers
        "Answer: 16.0",
        "Answer: 1/2",
        "Answer: 1e3",
        "Answer: 16.",
        "Answer: eight",
        "Answer: 16 marbles",
        "Answer: 16 17",
        "Answer: +16",
        "Answer: 016",  # a leading zero
        "Answer: -0",
        "Answer: - 7",
        "Answer: \u0661\u0666",  # Arabic-Indic digits: int() would read 16
        "Answer: １６",  # full-width digits
        "answer: 16",  # another spelling of the prefix
        "ANSWER: 16",
        "Answer : 16",
        "Answer = 16",
        "The Answer: 16",
        "Answer:",
        "16",
    ],
)
def test_refuses_every_other_format(completion: str) -> None:
    assert parse_answer(completion) is None


def test_format_and_correctness_are_apart() -> None:
    assert judge(WORKED + "Answer: 16", 16) == Verdict(format_ok=True, correct=True, answer=16)
    assert judge(WORKED + "Answer: 15", 16) == Verdict(format_ok=True, correct=False, answer=15)
    # The right number in the wrong format earns nothing, and is not called correct.
    assert judge(WORKED + "So Lena has 16 marbles.", 16) == Verdict(format_ok=False, correct=False, answer=None)


def test_reward_is_one_for_the_right_answer_only() -> None:
    reward = ArithmeticReward({"p1\n": 16, "p2\n": -3})
    prompts = ["p1\n", "p1\n", "p1\n", "p2\n", "p2\n"]
    completions = [WORKED + "Answer: 16", "Answer: 15", "16", "Answer: -3\n", "Answer: 3"]
    assert reward(prompts, completions) == [1.0, 0.0, 0.0, 1.0, 0.0]
    verdicts = reward.verdicts(prompts, completions)
    assert [v.format_ok for v in verdicts] == [True, True, False, True, True]
    assert [v.correct for v in verdicts] == [True, False, False, True, False]
    assert reward.name == "arithmetic"


def test_reward_refuses_prompts_it_does_not_know_and_mismatched_lengths() -> None:
    reward = ArithmeticReward({"p1\n": 16})
    with pytest.raises(AlignlabError, match="no answer is known for the prompt 'other'"):
        reward(["other"], ["Answer: 1"])
    with pytest.raises(AlignlabError, match="2 prompts but 1 completions"):
        reward(["p1\n", "p1\n"], ["Answer: 16"])


# ---- pass@k ----


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (1, 1, 1, 1.0),
        (1, 0, 1, 0.0),
        (2, 1, 1, 0.5),  # pass@1 is the share correct, c / n
        (10, 3, 1, 0.3),
        (4, 1, 2, 0.5),  # 1 - C(3,2)/C(4,2) = 1 - 3/6
        (5, 2, 2, 0.7),  # 1 - C(3,2)/C(5,2) = 1 - 3/10
        (8, 1, 8, 1.0),  # all 8 drawn: the one correct is among them
        (16, 2, 8, 1 - 3003 / 12870),  # 1 - C(14,8)/C(16,8); C(14,8) = 3003, C(16,8) = 12870
        (10, 3, 8, 1.0),  # n - c = 7 < 8: every 8 samples hold a correct one
        (16, 0, 4, 0.0),
    ],
)
def test_pass_at_k_by_hand(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("n", "c", "k"), [(6, 2, 3), (7, 3, 2), (8, 1, 4), (9, 5, 6)])
def test_pass_at_k_is_the_share_of_k_subsets_holding_a_correct_sample(n: int, c: int, k: int) -> None:
    samples = [True] * c + [False] * (n - c)
    subsets = list(itertools.combinations(samples, k))
    assert pass_at_k(n, c, k) == pytest.approx(sum(any(s) for s in subsets) / len(subsets), abs=1e-12)


def test_pass_at_k_rises_with_k_and_averages_over_prompts() -> None:
    assert [pass_at_k(16, 3, k) for k in (1, 4, 8)] == sorted(pass_at_k(16, 3, k) for k in (1, 4, 8))
    assert mean_pass_at_k([0, 8, 16], 16, 1) == pytest.approx((0 + 0.5 + 1) / 3)


@pytest.mark.parametrize(
    ("n", "c", "k", "what"), [(4, 5, 1, "c must be"), (4, -1, 1, "c must be"), (4, 2, 5, "k must"), (4, 2, 0, "k must")]
)
def test_pass_at_k_rejects_impossible_counts(n: int, c: int, k: int, what: str) -> None:
    with pytest.raises(ValueError, match=what):
        pass_at_k(n, c, k)
    with pytest.raises(ValueError, match="no prompts"):
        mean_pass_at_k([], 4, 1)
