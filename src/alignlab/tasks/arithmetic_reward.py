"""The arithmetic task's verifiable reward: 1 for the right final answer in the expected format,
0 otherwise, with format and correctness reported apart (``tasks.verifiable``).

The expected format is the one the embedded-arith model learnt in pretraining, and the one the
prompt asks a chat model for: the completion's last line is ``Answer: <integer>``, any reasoning
lines above it. Precisely, ``parse_answer`` accepts a completion when

- its last line that is not blank is ``Answer:`` followed by an integer: optional spaces around
  both, a minus sign for a negative number, ASCII digits with no leading zero ("0" itself is fine);
- no other line starts with ``Answer:`` (two answers are no answer).

Blank lines and spaces after the answer line are allowed, so a completion cut at EOS and one that
ends with a newline read the same. Everything else is a format failure: no answer line, an answer
line followed by more text, a non-integer ("3.5", "1/2", "7 marbles", "seven"), a loose ending
("So Lena has 8 marbles."), or a different spelling of the prefix ("answer:", "Answer =").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from alignlab.base.arith_grammar import ANSWER_PREFIX
from alignlab.errors import AlignlabError
from alignlab.tasks.verifiable import Verdict

_ANSWER_LINE = re.compile(rf"\s*{re.escape(ANSWER_PREFIX)}\s*(0|-?[1-9][0-9]*)\s*")


def parse_answer(completion: str) -> int | None:
    """The completion's final answer, or None where its format is wrong (module docstring)."""
    lines = [line for line in completion.splitlines() if line.strip()]
    if not lines:
        return None
    if sum(line.lstrip().startswith(ANSWER_PREFIX) for line in lines) != 1:
        return None
    match = _ANSWER_LINE.fullmatch(lines[-1])
    return int(match.group(1)) if match else None


def judge(completion: str, expected: int) -> Verdict:
    answer = parse_answer(completion)
    return Verdict(format_ok=answer is not None, correct=answer == expected, answer=answer)


class ArithmeticReward:
    """The gold reward of the arithmetic task: 1.0 for the right answer in the expected format, else
    0.0. It knows each prompt's answer (``answers``, prompt -> integer, as the task built them);
    ``verdicts`` gives format and correctness apart."""

    name = "arithmetic"

    def __init__(self, answers: Mapping[str, int]) -> None:
        self.answers = dict(answers)

    def verdicts(self, prompts: Sequence[str], completions: Sequence[str]) -> list[Verdict]:
        if len(prompts) != len(completions):
            raise AlignlabError(
                f"arithmetic reward: {len(prompts)} prompts but {len(completions)} completions; give one prompt each"
            )
        verdicts = []
        for prompt, completion in zip(prompts, completions):
            if prompt not in self.answers:
                raise AlignlabError(
                    f"arithmetic reward: no answer is known for the prompt {prompt[:80]!r}; it scores only "
                    "the prompts of the arithmetic task it was built with"
                )
            verdicts.append(judge(completion, self.answers[prompt]))
        return verdicts

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        return [float(v.correct) for v in self.verdicts(prompts, completions)]
