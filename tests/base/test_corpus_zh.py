"""The generated Chinese corpus: deterministic, distinct, varied, and built around the prompts."""

from __future__ import annotations

import re

import pytest

from alignlab.base import corpus_zh
from alignlab.base.corpus_zh import (
    MAX_CHARS,
    MIN_CHARS,
    ZH_CONNECTORS,
    ZH_LEXICON,
    ZH_PROMPTS,
    generate_zh_texts,
    lexicon_words,
    zh_corpus_stats,
)

NUM_TEXTS = 20_000


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return generate_zh_texts(NUM_TEXTS, seed=0)


@pytest.fixture(scope="module")
def stats(texts: list[str]) -> dict[str, float]:
    return zh_corpus_stats(texts)


def test_prompts_are_the_notebooks_fifteen_in_order() -> None:
    assert ZH_PROMPTS[0] == "今天天气很"
    assert ZH_PROMPTS[-1] == "文化多样性意味着"
    assert len(ZH_PROMPTS) == len(set(ZH_PROMPTS)) == 15


def test_same_seed_same_texts_other_seed_other_texts() -> None:
    assert generate_zh_texts(300, seed=7) == generate_zh_texts(300, seed=7)
    assert generate_zh_texts(300, seed=7) != generate_zh_texts(300, seed=8)


def test_longer_corpus_extends_shorter_one() -> None:
    assert generate_zh_texts(200, seed=3)[:100] == generate_zh_texts(100, seed=3)


def test_exact_count_all_distinct(texts: list[str], stats: dict[str, float]) -> None:
    assert len(texts) == NUM_TEXTS
    assert len(set(texts)) == NUM_TEXTS
    assert stats["num_texts"] == stats["num_distinct"] == NUM_TEXTS
    assert generate_zh_texts(0, seed=0) == []


def test_negative_count_is_rejected() -> None:
    with pytest.raises(ValueError):
        generate_zh_texts(-1, seed=0)


def test_texts_are_short_chinese_with_one_to_four_sentences(texts: list[str]) -> None:
    sentence_counts = set()
    for text in texts:
        assert MIN_CHARS <= len(text) <= MAX_CHARS, text
        assert text[-1] in "。！？", text
        # Chinese only: no Latin letters, digits or half-width punctuation.
        assert not re.search(r"[A-Za-z0-9,.!?;:]", text), text
        sentence_counts.add(len(re.findall(r"[。！？]", text)))
    assert sentence_counts == {1, 2, 3, 4}


def test_quality_varies_with_more_rich_texts_than_short_ones(texts: list[str]) -> None:
    sentences = [len(re.findall(r"[。！？]", t)) for t in texts]
    one = sentences.count(1) / len(texts)
    three_or_four = sum(n >= 3 for n in sentences) / len(texts)
    assert 0.01 < one < three_or_four


def test_full_width_punctuation(texts: list[str]) -> None:
    corpus = "".join(texts)
    for mark in "，。！？、：；":
        assert mark in corpus, mark
    assert sum("，" in t for t in texts) / len(texts) > 0.5


def test_every_prompt_starts_many_texts_and_is_continued(
    texts: list[str], stats: dict[str, float]
) -> None:
    assert stats["prompt_coverage"] >= 0.03
    for prompt in ZH_PROMPTS:
        started = [t for t in texts if t.startswith(prompt)]
        assert len(started) / len(texts) >= 0.03, prompt
        # The prompt is continued, never cut off by the end of a sentence.
        assert all(t[len(prompt)] not in "。！？" for t in started), prompt
        # ...and continued in many different ways.
        assert len({t[len(prompt) : len(prompt) + 4] for t in started}) >= 10, prompt


def test_many_texts_open_otherwise(texts: list[str]) -> None:
    others = [t for t in texts if not t.startswith(ZH_PROMPTS)]
    assert len(others) / len(texts) > 0.25
    assert len({t[:2] for t in others}) > 100


def test_vocabulary_of_at_least_1500_lexicon_words(stats: dict[str, float]) -> None:
    assert len(ZH_LEXICON) >= 1500
    assert stats["vocab_size"] >= 1500


def test_connectors(texts: list[str], stats: dict[str, float]) -> None:
    corpus = "".join(texts)
    for connector in ZH_CONNECTORS:
        assert corpus.count(connector) >= 100, connector
    assert stats["connector_fraction"] > 0.5


def test_no_sentence_repeated_within_a_text(texts: list[str]) -> None:
    for text in texts:
        sentences = [s for s in re.split(r"[。！？]", text) if s]
        assert len(sentences) == len(set(sentences)), text


def test_every_template_slot_is_defined() -> None:
    # Otherwise a rarely drawn template would fail only when the dice reach it.
    for templates in corpus_zh._RULES.values():
        for template in templates:
            for slot in re.findall(r"\{(\w+)\}", template):
                assert slot in corpus_zh._RULES or slot in corpus_zh._LEXICON, slot


def test_lexicon_words_takes_the_longest_match() -> None:
    # 阳光明媚 is one lexicon word (not 阳光 + 明媚); 我们 and 去 are not lexicon words.
    assert lexicon_words("阳光明媚，我们去公园散步。") == ["阳光明媚", "公园", "散步"]
    assert lexicon_words("") == []


def test_stats_by_hand() -> None:
    texts = ["今天天气很好，所以我们去公园散步。", "我认为文化很有意思。", "我认为文化很有意思。"]
    stats = zh_corpus_stats(texts)
    assert stats["num_texts"] == 3
    assert stats["num_distinct"] == 2
    assert stats["mean_chars"] == pytest.approx((17 + 10 + 10) / 3)
    # Most prompts start none of the texts.
    assert stats["prompt_coverage"] == 0.0
    # Only the first text holds a connector (所以).
    assert stats["connector_fraction"] == pytest.approx(1 / 3)
    assert zh_corpus_stats([])["num_texts"] == 0.0
