"""Neutral prompts cut from generated reviews, for the sentiment task.

As in the DPO paper's IMDb experiment, the policy continues a review's prefix and VADER scores the
continuation. No word that a review's opening can contain is in VADER's lexicon (the tests check
it), so a prefix cut inside the opening scores exactly 0 and leaves all the sentiment to the
policy.
"""

from __future__ import annotations

import random
import re

from alignlab.base.review_grammar import (
    COMPANIONS,
    FIRST_NAMES,
    GENRES,
    OCCASIONS,
    OCCUPATIONS,
    OPENERS,
    ORDINALS,
    PLACES,
    PLOTS,
    SCREENINGS,
    SOURCES,
    SURNAMES,
    TITLE_ADJECTIVES,
    TITLE_NOUNS,
    TRAITS,
    WHEN,
    WHERE,
)

_TOKEN = re.compile(r"[a-z]+(?:['-][a-z]+)*")


def tokens(text: str) -> list[str]:
    """Lower-cased alphabetic tokens; "wasn't" and "coming-of-age" are one token each."""
    return _TOKEN.findall(text.lower())


def _opening_vocabulary() -> frozenset[str]:
    pools = (
        FIRST_NAMES,
        SURNAMES,
        TITLE_ADJECTIVES,
        TITLE_NOUNS,
        PLACES,
        TRAITS,
        OCCUPATIONS,
        PLOTS,
        COMPANIONS,
        WHEN,
        WHERE,
        OCCASIONS,
        SCREENINGS,
        SOURCES,
        ORDINALS,
        [genre for pair in GENRES for genre in pair],
        [template for template, _, _ in OPENERS],
        ["of and the beyond midnight in a an"],  # words that film titles and articles add
    )
    phrases = (re.sub(r"{\w+}", " ", phrase) for pool in pools for phrase in pool)
    return frozenset(token for phrase in phrases for token in tokens(phrase))


# Every word an opening can contain. None is in VADER's lexicon, so any run of them scores 0.
OPENING_WORDS = _opening_vocabulary()


def _neutral_run(words: list[str]) -> int:
    """How many leading words of a review are opening words."""
    for i, word in enumerate(words):
        token = word.strip(".,;:!?").lower()
        if token.endswith("'s"):
            token = token[:-2]
        if token not in OPENING_WORDS:
            return i
    return len(words)


def split_prompt(review: str, rng: random.Random, min_words: int = 2, max_words: int = 8) -> tuple[str, str]:
    """Cut ``review`` into a neutral prompt and its continuation; ``prefix + " " + rest == review``.

    The cut falls after ``k`` words, ``k`` uniform from ``min_words`` up to the least of
    ``max_words`` and the review's leading run of opening words (which VADER scores 0). Where that
    run is shorter than ``min_words`` (never in generated reviews) ``k`` is ``min_words``. The
    continuation always keeps at least one word.
    """
    words = review.split(" ")
    if len(words) < 2:
        raise ValueError(f"cannot split a review of fewer than two words: {review!r}")
    low = min(min_words, len(words) - 1)
    high = max(low, min(max_words, _neutral_run(words), len(words) - 1))
    k = rng.randint(low, high)
    return " ".join(words[:k]), " ".join(words[k:])
