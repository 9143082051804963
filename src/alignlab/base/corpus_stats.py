"""Summary numbers of the generated corpora, for the embedded models' build reports."""

from __future__ import annotations

import re
from collections.abc import Sequence

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from alignlab.base.review_grammar import DOWNTONERS, INTENSIFIERS
from alignlab.base.review_prompts import tokens
from alignlab.base.zh_grammar import ZH_CONNECTORS, ZH_PROMPTS
from alignlab.base.zh_text import PUNCT_SPLIT, lexicon_words, looks_fluent

_NEGATION = re.compile(r"\b(?:not|never|no|nothing|nowhere|hardly|cannot|\w+n't)\b")
_CONTRAST = re.compile(r"\b(?:but|although|though|however|yet|whereas)\b")
_DEGREE = re.compile(r"\b(?:" + "|".join(INTENSIFIERS + DOWNTONERS) + r")\b")

_ZH_KEYS = (
    "num_texts",
    "num_distinct",
    "mean_chars",
    "vocab_size",
    "prompt_coverage",
    "connector_fraction",
    "degraded_fraction",
)


def _share(reviews: list[str], pattern: re.Pattern[str]) -> float:
    return sum(1 for text in reviews if pattern.search(text.lower())) / max(len(reviews), 1)


def corpus_stats(reviews: list[str]) -> dict[str, float]:
    """Summary numbers for an English review corpus.

    ``positive_fraction`` is the share of VADER-positive reviews among those VADER calls polar
    (|compound| > 0.05). ``strong_positive_fraction``, ``strong_negative_fraction`` and
    ``near_neutral_fraction`` split all reviews at compound 0.5 and -0.5. The negation, contrast
    and intensifier fractions count reviews with at least one such word; intensifiers include
    downtoners ("somewhat", "a bit").
    """
    analyzer = SentimentIntensityAnalyzer()
    compounds = [analyzer.polarity_scores(text)["compound"] for text in reviews]
    polar = [c for c in compounds if abs(c) > 0.05]
    count = max(len(reviews), 1)
    vocabulary = {token for text in reviews for token in tokens(text)}
    return {
        "num_reviews": float(len(reviews)),
        "num_distinct": float(len(set(reviews))),
        "vocab_size": float(len(vocabulary)),
        "mean_words": sum(len(text.split()) for text in reviews) / count,
        "positive_fraction": sum(1 for c in polar if c > 0) / max(len(polar), 1),
        "strong_positive_fraction": sum(1 for c in compounds if c > 0.5) / count,
        "strong_negative_fraction": sum(1 for c in compounds if c < -0.5) / count,
        "near_neutral_fraction": sum(1 for c in compounds if abs(c) <= 0.5) / count,
        "negation_fraction": _share(reviews, _NEGATION),
        "contrast_fraction": _share(reviews, _CONTRAST),
        "intensifier_fraction": _share(reviews, _DEGREE),
    }


def zh_corpus_stats(texts: Sequence[str]) -> dict[str, float]:
    """Summary statistics of a Chinese corpus.

    Keys: ``num_texts``; ``num_distinct``; ``mean_chars``; ``vocab_size`` (distinct lexicon words
    found by ``lexicon_words``); ``prompt_coverage`` (the smallest, over ``ZH_PROMPTS``, fraction of
    texts starting with that prompt); ``connector_fraction`` (fraction of texts holding at least
    one of ``ZH_CONNECTORS``); ``degraded_fraction`` (fraction of texts without the fluent form of
    ``looks_fluent``: for a generated corpus, exactly the share of degraded styles).
    """
    n = len(texts)
    if n == 0:
        return dict.fromkeys(_ZH_KEYS, 0.0)
    # Clauses repeat across texts; segmenting each distinct clause once keeps this fast.
    clauses = {c for t in texts for c in PUNCT_SPLIT.split(t)}
    vocab = {w for c in clauses for w in lexicon_words(c)}
    return {
        "num_texts": float(n),
        "num_distinct": float(len(set(texts))),
        "mean_chars": sum(len(t) for t in texts) / n,
        "vocab_size": float(len(vocab)),
        "prompt_coverage": min(sum(t.startswith(p) for t in texts) for p in ZH_PROMPTS) / n,
        "connector_fraction": sum(any(c in t for c in ZH_CONNECTORS) for t in texts) / n,
        "degraded_fraction": sum(not looks_fluent(t) for t in texts) / n,
    }
