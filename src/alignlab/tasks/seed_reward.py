"""The teaching notebook's heuristic text-quality reward, made to mean something for Chinese.

The notebook scored a completion by its length, word diversity, fluency cues (connectors,
punctuation) and repetition, but found words with ``str.split()``. Chinese has no spaces, so a whole
Chinese sentence was one "word": always "too short", always perfectly diverse, never repetitive.
Here text is cut into *units* by script: one per Han character, one per Latin word
(``[A-Za-z]+(?:'[A-Za-z]+)?``, lower-cased), one per run of digits; spaces, punctuation and
anything else only separate units, so mixed text needs no special case. Where a term needs a target
per script it blends the two by ``f``, the share of Han characters among Han characters and Latin
words.

Terms, each in [0, 1] (``score_terms`` returns them):

- ``length``: ``n / lo`` below ``lo`` units, 1 up to ``hi``, then falling linearly to 0 at
  ``2 hi``; ``lo, hi`` = (8, 60) for Han text, (5, 50) for Latin (the notebook's 5 to 50 words).
- ``diversity``: ``u = min(1, (distinct units / units) / t)`` with ``t`` = 0.6 for Han and 0.7 for
  Latin (natural text repeats 的, 是, "the"); ``b = min(1, (distinct / all Han character
  bigrams) / 0.9)``; ``diversity = (1 - f/2) u + (f/2) b``, or ``u`` when there is no Han bigram.
- ``fluency``: 0.4 * connectors (distinct ones present, 2 give full credit: 因为 但是 所以 而且 虽然
  然而 因此 不过 同时 例如, and English ones) + 0.3 * sentence punctuation present (。！？， for Han
  text, .!?, for Latin) + 0.3 * ends with terminal punctuation (。！？ for Han, .!? for Latin).
- ``repetition``: the larger of immediate unit repeats beyond a small allowance ("好好好好") and
  the share of repeated n-grams beyond 10% (Han character 2- and 3-grams, Latin word bigrams).
- ``echo``: how much of the completion merely repeats the prompt: the share of its unit bigrams
  found in the prompt, 0 up to 30% and 1 from 80%.
- ``garbled``: U+FFFD replacement characters, left where a byte-level tokenizer stopped inside a
  multi-byte character: 0.5 for one, 1 for two or more. Without it PPO on this reward learnt to
  emit broken bytes, which count as no unit and so dodge the repetition and length terms.

``reward = 0.2 + 0.25 length + 0.25 diversity + 0.3 fluency - 0.6 repetition - 0.5 echo
- 0.5 garbled``, clipped to [-1, 1]: the notebook's weights and constant, with its flat penalties
replaced by graded terms.
A completion with fewer than two units (empty, punctuation only, one character) scores -1.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from alignlab.base.corpus_zh import ZH_CONNECTORS
from alignlab.text import HAN, LATIN_WORD, text_units

_HAN_RUN = re.compile(rf"[{HAN}]+")
_LATIN_WORD = re.compile(LATIN_WORD)

EN_CONNECTORS = frozenset(
    {
        "because",
        "but",
        "so",
        "and",
        "however",
        "therefore",
        "although",
        "though",
        "also",
        "moreover",
        "meanwhile",
        "thus",
        "while",
        "since",
        "furthermore",
        "instead",
    }
)
_ZH_PUNCT = frozenset("。！？，")
_EN_PUNCT = frozenset(".!?,")
_ZH_END = frozenset("。！？")
_EN_END = frozenset(".!?")
# Closing quotes and brackets may follow the full stop: “好。” or (done.)
_CLOSERS = "\"'”’」』）)]》 \t\n"

WEIGHTS = {
    "length": 0.25,
    "diversity": 0.25,
    "fluency": 0.3,
    "repetition": -0.6,
    "echo": -0.5,
    "garbled": -0.5,
}
REPLACEMENT_CHAR = "\ufffd"
BASE = 0.2
MIN_UNITS = 2


def _clip01(x: float) -> float:
    return min(1.0, max(0.0, x))


def _blend(f: float, han: float, latin: float) -> float:
    """A per-script constant for text whose Han share is ``f``."""
    return f * han + (1.0 - f) * latin


def _latin_words(text: str) -> list[str]:
    return [w.lower() for w in _LATIN_WORD.findall(text)]


def han_fraction(text: str) -> float:
    """Share of Han characters among the Han characters and Latin words of ``text`` (0 if none)."""
    han = sum(map(len, _HAN_RUN.findall(text)))
    latin = len(_LATIN_WORD.findall(text))
    return han / (han + latin) if han + latin else 0.0


def _han_ngrams(text: str, n: int) -> list[str]:
    """Character n-grams inside runs of Han characters; punctuation and spaces end a run."""
    return [run[i : i + n] for run in _HAN_RUN.findall(text) for i in range(len(run) - n + 1)]


def _repeat_share(grams: Sequence[object]) -> float:
    """Share of n-gram occurrences that repeat an earlier one: 0 for all distinct."""
    return 1.0 - len(set(grams)) / len(grams) if grams else 0.0


def length_term(n: int, f: float) -> float:
    """1 inside the target range of units, ramping to 0 below it and beyond twice its top."""
    lo, hi = _blend(f, 8, 5), _blend(f, 60, 50)
    if n < lo:
        return n / lo
    if n > hi:
        return _clip01(1.0 - (n - hi) / hi)
    return 1.0


def diversity_term(text: str, units: Sequence[str], f: float) -> float:
    """Distinct-unit ratio, averaged with the distinct Han-bigram ratio in proportion to ``f``."""
    ratio = len(set(units)) / len(units)
    unit_score = min(1.0, ratio / _blend(f, 0.6, 0.7))
    bigrams = _han_ngrams(text, 2)
    if not bigrams:
        return unit_score
    bigram_score = min(1.0, (1.0 - _repeat_share(bigrams)) / 0.9)
    return (1.0 - f / 2) * unit_score + (f / 2) * bigram_score


def fluency_term(text: str, units: Sequence[str], f: float) -> float:
    """Connectors, sentence punctuation, and a terminal mark at the end, for the text's script."""
    words = set(units)
    connectors = sum(c in text for c in ZH_CONNECTORS) + len(EN_CONNECTORS & words)
    chars = set(text)
    punctuation = _blend(f, float(bool(chars & _ZH_PUNCT)), float(bool(chars & _EN_PUNCT)))
    tail = text.rstrip(_CLOSERS)[-1:]
    ending = _blend(f, float(tail in _ZH_END), float(tail in _EN_END))
    return 0.4 * min(1.0, connectors / 2) + 0.3 * punctuation + 0.3 * ending


def repetition_term(text: str, units: Sequence[str]) -> float:
    """The worse of immediate repeats ("好好好") and repeated n-grams ("我喜欢你我喜欢你")."""
    n = len(units)
    immediate = sum(a == b for a, b in zip(units, units[1:]))
    # Chinese doubles characters on purpose (天天, 慢慢), so a few repeats are free.
    allowance = 1 + n / 20
    immediate_score = _clip01((immediate - allowance) / (0.5 * (n - 1))) if n > 1 else 0.0
    words = _latin_words(text)
    grams = [*_han_ngrams(text, 2), *_han_ngrams(text, 3), *zip(words, words[1:])]
    ngram_score = _clip01((_repeat_share(grams) - 0.1) / 0.4)
    return max(immediate_score, ngram_score)


def echo_term(prompt_units: Sequence[str], units: Sequence[str]) -> float:
    """How far the completion only restates the prompt: share of its unit bigrams in the prompt."""
    grams = list(zip(units, units[1:]))
    if not prompt_units or not grams:
        return 0.0
    prompt_grams = set(zip(prompt_units, prompt_units[1:]))
    share = sum(g in prompt_grams for g in grams) / len(grams)
    return _clip01((share - 0.3) / 0.5)


def score_terms(prompt: str, completion: str) -> dict[str, float]:
    """Every term of the reward for one pair, plus ``units``, ``han_fraction`` and ``reward``."""
    units = text_units(completion)
    f = han_fraction(completion)
    if len(units) < MIN_UNITS:
        empty = dict.fromkeys(WEIGHTS, 0.0)
        return {**empty, "units": float(len(units)), "han_fraction": f, "reward": -1.0}
    terms = {
        "length": length_term(len(units), f),
        "diversity": diversity_term(completion, units, f),
        "fluency": fluency_term(completion, units, f),
        "repetition": repetition_term(completion, units),
        "echo": echo_term(text_units(prompt), units),
        "garbled": min(1.0, completion.count(REPLACEMENT_CHAR) / 2),
    }
    reward = max(-1.0, min(1.0, BASE + sum(WEIGHTS[k] * v for k, v in terms.items())))
    return {**terms, "units": float(len(units)), "han_fraction": f, "reward": reward}


def seed_heuristic_reward(prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
    """The script-aware notebook reward for each (prompt, completion) pair, in [-1, 1]."""
    if len(prompts) != len(completions):
        raise ValueError(f"{len(prompts)} prompts but {len(completions)} completions")
    return [score_terms(p, c)["reward"] for p, c in zip(prompts, completions)]


class SeedHeuristicReward:
    """``seed_heuristic_reward`` as a ``Reward`` (see ``alignlab.tasks.rewards``)."""

    name = "seed_heuristic"

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        return seed_heuristic_reward(prompts, completions)
