"""Worked solutions of arithmetic word problems, some of them wrong, for pretraining the
embedded-arith model.

Each document is a problem of the pretraining split (``arith_grammar``) and a worked solution::

    Lena has 7 marbles. She finds 5 more. Then she loses 4. How many marbles does Lena have now?
    7 + 5 = 12
    12 - 4 = 8
    Answer: 8

A base model that only ever saw right solutions would leave a verifiable reward little to do, so
the solutions are written as a careless student writes them:

- a *slip*: each line, with probability ``SLIP_PROB``, gets a wrong result (off by 2 or by 10,
  the usual carry and borrow errors), and the following lines go on from the wrong count, so the
  final answer is wrong too (unless a later slip happens to cancel it). A slip never makes a
  later halving inexact, nor a count negative;
- a *loose ending*: with probability ``LOOSE_ENDING_PROB`` the solution ends with a sentence
  ("So Lena has 8 marbles.") instead of the ``Answer:`` line, which the reward's format refuses.

The number of events is drawn from ``STEP_WEIGHTS``, so the model sees short and long problems,
longer than the task's prompts included. A seed fixes the corpus.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from alignlab.base.arith_grammar import ANSWER_PREFIX, Problem, Step, draw_problem, split_of

SLIP_PROB = 0.1
SLIPS = (-10, -2, 2, 10)
LOOSE_ENDING_PROB = 0.08
LOOSE_ENDINGS = ("So {name} has {answer} {items}.", "The answer is {answer}.")
# Events per problem, and how often each length is drawn.
STEP_WEIGHTS = {1: 1.0, 2: 1.5, 3: 2.0, 4: 2.0, 5: 1.5, 6: 1.0}


@dataclass(frozen=True)
class WorkedSolution:
    """One document and what went wrong in it."""

    text: str  # the question, a newline, then the solution
    slips: int  # lines with a wrong result
    answer_line: bool  # ends with "Answer: <n>" (False: a loose ending)
    right: bool  # the final count written equals the problem's answer


def _halvings_stay_exact(count: int, steps: Sequence[Step]) -> bool:
    """Whether every halving among ``steps``, worked from ``count`` without slips, halves an even count."""
    for step in steps:
        if step.op == "/2" and count % 2:
            return False
        count = step.apply(count)
    return True


def write_solution(problem: Problem, rng: random.Random) -> WorkedSolution:
    """The question and a worked solution of ``problem``, with the slips and loose ending drawn.

    A slip is one of ``SLIPS`` that keeps the count written non-negative and every later halving
    exact (a wrong 14 would otherwise make "7 / 2" two steps on); a line where none does has no
    slip."""
    count, lines, slips = problem.start, [], 0
    for i, step in enumerate(problem.steps):
        result = step.apply(count)
        if rng.random() < SLIP_PROB:
            later = problem.steps[i + 1 :]
            allowed = [d for d in SLIPS if result + d >= 0 and _halvings_stay_exact(result + d, later)]
            if allowed:
                result += rng.choice(allowed)
                slips += 1
        lines.append(step.line(count, result))
        count = result
    answer_line = rng.random() >= LOOSE_ENDING_PROB
    if answer_line:
        lines.append(f"{ANSWER_PREFIX} {count}")
    else:
        lines.append(rng.choice(LOOSE_ENDINGS).format(name=problem.name, answer=count, items=problem.items))
    text = problem.question + "\n" + "\n".join(lines)
    return WorkedSolution(text, slips, answer_line, count == problem.answer)


def generate_worked_solutions(num_docs: int, seed: int) -> list[WorkedSolution]:
    """``num_docs`` distinct documents on problems of the pretraining split, from ``seed``."""
    if num_docs < 0:
        raise ValueError(f"num_docs must be non-negative, got {num_docs}")
    rng = random.Random(seed)
    lengths, weights = list(STEP_WEIGHTS), list(STEP_WEIGHTS.values())
    docs: list[WorkedSolution] = []
    seen: set[str] = set()
    while len(docs) < num_docs:
        problem = draw_problem(rng, rng.choices(lengths, weights)[0])
        if split_of(problem.skeleton) != "pretrain":
            continue
        doc = write_solution(problem, rng)
        if doc.text not in seen:
            seen.add(doc.text)
            docs.append(doc)
    return docs


def generate_arith_documents(num_docs: int, seed: int) -> list[str]:
    """The texts of ``generate_worked_solutions``."""
    return [doc.text for doc in generate_worked_solutions(num_docs, seed)]


def arith_corpus_stats(docs: Sequence[WorkedSolution]) -> dict[str, float]:
    """``num_docs``; ``mean_steps`` (solution lines before the ending); ``slip_fraction`` (documents
    with at least one slip); ``answer_line_fraction``; ``right_fraction`` (final count right);
    ``rewarded_fraction`` (right and ending with the answer line: what the task's reward pays)."""
    n = max(len(docs), 1)
    return {
        "num_docs": float(len(docs)),
        "mean_steps": sum(doc.text.count("\n") - 1 for doc in docs) / n,
        "slip_fraction": sum(doc.slips > 0 for doc in docs) / n,
        "answer_line_fraction": sum(doc.answer_line for doc in docs) / n,
        "right_fraction": sum(doc.right for doc in docs) / n,
        "rewarded_fraction": sum(doc.right and doc.answer_line for doc in docs) / n,
    }
