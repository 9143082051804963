"""Multi-step arithmetic word problems: how one is drawn, told and solved, and which split it is in.

A problem is a person with a number of things and a story of ``num_steps`` events, each one
operation on the running count::

    Lena has 7 marbles. She finds 5 more. Then she loses 4. Then she doubles her marbles.
    How many marbles does Lena have now?

Its worked solution writes one line per event, then the answer line::

    7 + 5 = 12
    12 - 4 = 8
    8 * 2 = 16
    Answer: 16

Every running count stays an integer in [1, ``MAX_VALUE``] (two digits at most), so each line is
one small sum a tiny model can learn. The operations are "+" and "-" of 1 to ``MAX_OPERAND``,
doubling, tripling and halving (of even counts only). The word lists are in
``data/arithmetic.yaml``.

**Splits.** Whether a problem is used for pretraining, RL training, validation or test depends only
on its computation (its *skeleton*: the start and the operations, not the names or words), through
a hash (``split_of``). The splits are therefore disjoint by construction, also across seeds and
difficulties, and no computation of a held-out prompt appears in the pretraining corpus, whoever
draws it.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Literal

from alignlab.base.corpus_data import load_data

Split = Literal["pretrain", "train", "validation", "test"]
# Shares of the skeleton hash space, in percent: most computations are for pretraining.
SPLIT_PERCENT: dict[Split, tuple[int, int]] = {
    "pretrain": (0, 80),
    "train": (80, 90),
    "validation": (90, 95),
    "test": (95, 100),
}
SPLITS: tuple[Split, ...] = tuple(SPLIT_PERCENT)

MAX_VALUE = 99  # every running count stays in [1, MAX_VALUE]
MAX_OPERAND = 20  # "+ k" and "- k" have 1 <= k <= MAX_OPERAND
START_RANGE = (2, 20)
MAX_STEPS = 8
ANSWER_PREFIX = "Answer:"

# How often each operation is drawn, among those that keep the count in range.
_OP_WEIGHTS = {"+": 3.0, "-": 3.0, "*2": 1.0, "*3": 0.5, "/2": 1.0}
_SYMBOL = {"+": "+", "-": "-", "*2": "*", "*3": "*", "/2": "/"}

_DATA = load_data("arithmetic")
PEOPLE: tuple[tuple[str, str], ...] = tuple((name, pronoun) for name, pronoun in _DATA["people"])
ITEMS: tuple[str, ...] = tuple(_DATA["items"].split())
EVENTS: dict[str, tuple[str, ...]] = {op: tuple(sentences) for op, sentences in _DATA["events"].items()}
_PRONOUNS = {"she": {"he": "she", "him": "her", "his": "her"}, "he": {"he": "he", "him": "him", "his": "his"}}


@dataclass(frozen=True)
class Step:
    """One event: an operation ("+", "-", "*2", "*3", "/2"), its operand, and how it is told."""

    op: str
    operand: int
    sentence: str  # e.g. "she finds 5 more", lower case, no full stop

    def apply(self, value: int) -> int:
        """The count after this event, from ``value`` before it (exact: halving takes even counts)."""
        if self.op == "+":
            return value + self.operand
        if self.op == "-":
            return value - self.operand
        if self.op in ("*2", "*3"):
            return value * self.operand
        return value // 2

    def line(self, before: int, after: int) -> str:
        """The solution line of this event, ``before`` and ``after`` as written (a slip may differ)."""
        return f"{before} {_SYMBOL[self.op]} {self.operand} = {after}"


@dataclass(frozen=True)
class Problem:
    name: str
    pronoun: str  # "she" or "he"
    items: str
    start: int
    steps: tuple[Step, ...]

    @property
    def question(self) -> str:
        """The word problem, one line, ending with its question."""
        events = [self.steps[0].sentence] + [f"then {step.sentence}" for step in self.steps[1:]]
        story = " ".join(f"{event[0].upper()}{event[1:]}." for event in events)
        return f"{self.name} has {self.start} {self.items}. {story} How many {self.items} does {self.name} have now?"

    @property
    def values(self) -> tuple[int, ...]:
        """The running count: the start, then after each event (``num_steps + 1`` values)."""
        values = [self.start]
        for step in self.steps:
            values.append(step.apply(values[-1]))
        return tuple(values)

    @property
    def answer(self) -> int:
        return self.values[-1]

    @property
    def expression(self) -> str:
        """The computation as one Python expression, e.g. ``((7 + 5) - 4) * 2``."""
        text = str(self.start)
        for i, step in enumerate(self.steps):
            text = f"{text} {_SYMBOL[step.op]} {step.operand}"
            if i < len(self.steps) - 1:
                text = f"({text})"
        return text

    @property
    def skeleton(self) -> str:
        """What the split is decided by: the start and the operations, e.g. ``7 +5 -4 *2``."""
        return " ".join([str(self.start)] + [f"{_SYMBOL[s.op]}{s.operand}" for s in self.steps])

    def solution(self) -> str:
        """The correct worked solution: one line per event, then ``Answer: <count>``."""
        values = self.values
        lines = [step.line(values[i], values[i + 1]) for i, step in enumerate(self.steps)]
        return "\n".join([*lines, f"{ANSWER_PREFIX} {self.answer}"])


def split_of(skeleton: str) -> Split:
    """The split of a computation: a fixed function of its skeleton (sha256, so the same on every
    machine and Python), with the shares of ``SPLIT_PERCENT``."""
    bucket = int.from_bytes(hashlib.sha256(skeleton.encode()).digest()[:8], "big") % 100
    return next(split for split, (low, high) in SPLIT_PERCENT.items() if low <= bucket < high)


def _draw_step(rng: random.Random, value: int, pronoun: str, items: str) -> Step:
    """One event that keeps the count in [1, MAX_VALUE]."""
    allowed = {
        "+": value + 1 <= MAX_VALUE,
        "-": value >= 2,
        "*2": 2 * value <= MAX_VALUE,
        "*3": 3 * value <= MAX_VALUE,
        "/2": value % 2 == 0,
    }
    ops = [op for op in _OP_WEIGHTS if allowed[op]]
    op = rng.choices(ops, [_OP_WEIGHTS[o] for o in ops])[0]
    if op == "+":
        operand = rng.randint(1, min(MAX_OPERAND, MAX_VALUE - value))
    elif op == "-":
        operand = rng.randint(1, min(MAX_OPERAND, value - 1))
    else:
        operand = int(op[1])
    template = rng.choice(EVENTS[op])
    sentence = template.format(k=operand, items=items, **_PRONOUNS[pronoun])
    return Step(op, operand, sentence)


def draw_problem(rng: random.Random, num_steps: int) -> Problem:
    """A random problem of ``num_steps`` events (of any split)."""
    if not 1 <= num_steps <= MAX_STEPS:
        raise ValueError(f"num_steps must be in [1, {MAX_STEPS}], got {num_steps}")
    name, pronoun = rng.choice(PEOPLE)
    items = rng.choice(ITEMS)
    start = value = rng.randint(*START_RANGE)
    steps = []
    for _ in range(num_steps):
        steps.append(_draw_step(rng, value, pronoun, items))
        value = steps[-1].apply(value)
    return Problem(name, pronoun, items, start, tuple(steps))


def generate_problems(count: int, seed: int, split: Split, num_steps: int) -> list[Problem]:
    """``count`` problems of ``num_steps`` events in ``split``, distinct by question, the same list
    for the same arguments. Draws that fall in another split are dropped, so each split's list is
    its own; a shorter list is a prefix of a longer one."""
    if split not in SPLIT_PERCENT:
        raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")
    if count < 0:
        raise ValueError(f"count must be non-negative, got {count}")
    rng = random.Random(f"arithmetic/{split}/{num_steps}/{seed}")
    problems: list[Problem] = []
    seen: set[str] = set()
    # A split holds at least 5% of the skeletons; the budget only stops an endless loop where the
    # space of problems is smaller than asked for.
    budget = 200 * count + 10_000
    while len(problems) < count:
        if budget == 0:
            raise ValueError(f"only {len(problems)} distinct {split} problems of {num_steps} steps exist")
        budget -= 1
        problem = draw_problem(rng, num_steps)
        if problem.question not in seen and split_of(problem.skeleton) == split:
            seen.add(problem.question)
            problems.append(problem)
    return problems
