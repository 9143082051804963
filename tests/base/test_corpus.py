"""Tests for the generated review corpus: determinism, shape, vocabulary, sentiment balance as
VADER sees it, neutral prompts, and the grammar of negation."""

from __future__ import annotations

import random
import re

import pytest
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from alignlab.base.corpus import MAX_WORDS, MIN_WORDS, generate_reviews
from alignlab.base.corpus_stats import corpus_stats
from alignlab.base.review_grammar import ASPECTS, CRITICISM, PRAISE
from alignlab.base.review_prompts import OPENING_WORDS, split_prompt

NUM_REVIEWS = 20_000

# Every adjective the grammar can put after a copula, and the critical ones among them.
CRITICAL = frozenset(CRITICISM) | {word for aspect in ASPECTS for word in aspect[3]}
ADJECTIVES = CRITICAL | frozenset(PRAISE) | {word for aspect in ASPECTS for word in aspect[2]}


@pytest.fixture(scope="module")
def reviews() -> list[str]:
    return generate_reviews(NUM_REVIEWS, seed=0)


@pytest.fixture(scope="module")
def stats(reviews: list[str]) -> dict[str, float]:
    return corpus_stats(reviews)


@pytest.fixture(scope="module")
def analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def test_same_seed_gives_same_reviews(reviews: list[str]) -> None:
    assert generate_reviews(NUM_REVIEWS, seed=0) == reviews
    # A shorter corpus is a prefix of a longer one, so corpus sizes can change without reshuffling.
    assert generate_reviews(300, seed=0) == reviews[:300]


def test_different_seed_gives_different_reviews(reviews: list[str]) -> None:
    other = generate_reviews(1_000, seed=1)
    assert len(set(other) & set(reviews[:1_000])) < 10


def test_exactly_n_distinct_reviews(reviews: list[str], stats: dict[str, float]) -> None:
    assert len(reviews) == NUM_REVIEWS
    assert len(set(reviews)) == NUM_REVIEWS
    assert stats["num_reviews"] == stats["num_distinct"] == NUM_REVIEWS


def test_reviews_are_well_formed(reviews: list[str]) -> None:
    for review in reviews:
        assert MIN_WORDS <= len(review.split(" ")) <= MAX_WORDS, review
        assert 1 <= len(re.findall(r"[.!?](?:\s|$)", review)) <= 4, review
        assert review[0].isupper() and review[-1] in ".!", review
        assert "  " not in review and " ," not in review and " ." not in review, review
    assert 12 <= sum(len(r.split()) for r in reviews) / len(reviews) <= 60


def test_vocabulary_is_large(stats: dict[str, float]) -> None:
    assert stats["vocab_size"] >= 1_500


def test_vader_sees_a_balanced_spread(stats: dict[str, float]) -> None:
    assert 0.45 <= stats["positive_fraction"] <= 0.55
    assert stats["strong_positive_fraction"] >= 0.15
    assert stats["strong_negative_fraction"] >= 0.15
    assert stats["near_neutral_fraction"] >= 0.15


def test_negation_contrast_and_degree_words_are_common(stats: dict[str, float]) -> None:
    assert stats["negation_fraction"] >= 0.10
    assert stats["contrast_fraction"] >= 0.10
    assert stats["intensifier_fraction"] >= 0.10


def test_opening_words_carry_no_vader_sentiment(analyzer: SentimentIntensityAnalyzer) -> None:
    assert not OPENING_WORDS & analyzer.lexicon.keys()


def test_split_prompt_reconstructs_and_is_neutral(reviews: list[str], analyzer: SentimentIntensityAnalyzer) -> None:
    rng = random.Random(0)
    neutral = 0
    for review in reviews:
        prefix, rest = split_prompt(review, rng)
        assert prefix + " " + rest == review
        assert 2 <= len(prefix.split(" ")) <= 8
        neutral += abs(analyzer.polarity_scores(prefix)["compound"]) <= 0.05
    assert neutral / len(reviews) >= 0.95


def test_split_prompt_honours_its_bounds() -> None:
    rng = random.Random(0)
    review = "I went to see Beyond the Harbor with my dad last Friday, and the plot was dull."
    prefixes = [split_prompt(review, rng, min_words=3, max_words=5)[0] for _ in range(50)]
    assert {len(prefix.split()) for prefix in prefixes} == {3, 4, 5}
    # The cut never passes the first evaluative word, whatever max_words allows.
    review = "Going into this one, I expected great things, and it delivered."
    prefixes = {split_prompt(review, rng, min_words=2, max_words=40)[0] for _ in range(100)}
    assert max(prefixes, key=len) == "Going into this one, I expected"
    with pytest.raises(ValueError):
        split_prompt("Great.", rng)


def _followers(reviews: list[str], pattern: str) -> list[str]:
    return [m.group(1) for review in reviews for m in re.finditer(pattern, review)]


def test_negation_is_followed_by_an_adjective(reviews: list[str]) -> None:
    copula = r"\b(?:is|was|are|were)"
    after_not = _followers(reviews, copula + r" not ([\w-]+)")
    after_nt = _followers(reviews, r"\b(?:isn't|wasn't|aren't|weren't) ([\w-]+)")
    after_never = _followers(reviews, copula + r" never ([\w-]+)")
    after_hardly = _followers(reviews, copula + r" hardly ([\w-]+)")
    for words in (after_not, after_nt, after_never, after_hardly):
        assert len(words) > 100
    # "it was not fun at all", "not nearly as", "westerns are not usually your thing"
    extra = {"good", "fun", "interesting", "very", "particularly", "nearly", "usually"}
    assert set(after_not) <= ADJECTIVES | extra
    assert set(after_nt) <= ADJECTIVES
    assert set(after_never) <= ADJECTIVES
    assert set(after_hardly) <= ADJECTIVES | {"worth"}


def test_only_criticism_is_denied_outright(reviews: list[str]) -> None:
    # "the pacing wasn't sluggish at all" and "it was never boring" praise; no "never brilliant".
    denied = _followers(reviews, r"n't ([\w-]+) at all\b") + _followers(reviews, r" never ([\w-]+)")
    assert len(denied) > 100
    assert set(denied) <= CRITICAL


def test_agreement_and_articles(reviews: list[str]) -> None:
    text = " ".join(reviews)
    # A singular aspect takes a plural verb only ending a list ("the plot and the score were").
    singular = r"(?<!and )\bthe (?:plot|score|pacing|ending|acting) (?:are|were|aren't|weren't)\b"
    assert not re.search(singular, text)
    plural = r"\bthe (?:characters|costumes|jokes|performances) (?:is|was|isn't|wasn't)\b"
    assert not re.search(plural, text)
    assert not re.search(r"\ba [aeiou]", text)
    assert not re.search(r"\ban [^aeiou\s]", text)
    assert not re.search(r"\b(\w+) \1\b", text.lower())
