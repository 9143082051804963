"""The generated Chinese corpus: deterministic, distinct, varied, built around the prompts, and a
mix of fluent and degraded texts that the seed task's reward tells apart."""

from __future__ import annotations

import re
import statistics

import pytest

from alignlab.base import zh_degraded, zh_grammar
from alignlab.base.corpus_zh import (
    MAX_CHARS,
    MIN_CHARS,
    ZH_CONNECTORS,
    ZH_LEXICON,
    ZH_PROMPTS,
    ZH_STYLES,
    generate_zh_texts,
    generate_zh_texts_with_style,
    lexicon_words,
    zh_corpus_stats,
)
from alignlab.tasks.seed_reward import seed_heuristic_reward

NUM_TEXTS = 20_000
PROMPTS_LONGEST_FIRST = sorted(ZH_PROMPTS, key=len, reverse=True)


def prompt_of(text: str) -> str:
    """The prompt a text starts with ("" if none), longest first: 人工智能的未来 before 人工智能."""
    return next((p for p in PROMPTS_LONGEST_FIRST if text.startswith(p)), "")


@pytest.fixture(scope="module")
def pairs() -> list[tuple[str, str]]:
    return generate_zh_texts_with_style(NUM_TEXTS, seed=0)


@pytest.fixture(scope="module")
def texts(pairs: list[tuple[str, str]]) -> list[str]:
    return [text for text, _ in pairs]


@pytest.fixture(scope="module")
def fluent(pairs: list[tuple[str, str]]) -> list[str]:
    return [text for text, style in pairs if style == "fluent"]


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
    assert generate_zh_texts_with_style(300, seed=7) == generate_zh_texts_with_style(300, seed=7)


def test_texts_are_those_of_the_styled_generator() -> None:
    assert generate_zh_texts(300, seed=7) == [text for text, _ in generate_zh_texts_with_style(300, seed=7)]


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


def test_every_text_is_chinese_only(texts: list[str]) -> None:
    # No Latin letters, digits or half-width punctuation, whatever the style.
    for text in texts:
        assert not re.search(r"[A-Za-z0-9,.!?;:]", text), text


def test_fluent_texts_are_short_with_one_to_four_sentences(fluent: list[str]) -> None:
    sentence_counts = set()
    for text in fluent:
        assert MIN_CHARS <= len(text) <= MAX_CHARS, text
        assert text[-1] in "。！？", text
        sentence_counts.add(len(re.findall(r"[。！？]", text)))
    assert sentence_counts == {1, 2, 3, 4}


def test_fluent_quality_varies_with_more_rich_texts_than_short_ones(fluent: list[str]) -> None:
    sentences = [len(re.findall(r"[。！？]", t)) for t in fluent]
    one = sentences.count(1) / len(fluent)
    three_or_four = sum(n >= 3 for n in sentences) / len(fluent)
    assert 0.01 < one < three_or_four


def test_full_width_punctuation(texts: list[str], fluent: list[str]) -> None:
    corpus = "".join(texts)
    for mark in "，。！？、：；":
        assert mark in corpus, mark
    assert sum("，" in t for t in fluent) / len(fluent) > 0.5


def test_every_prompt_starts_many_texts_and_is_continued(texts: list[str], stats: dict[str, float]) -> None:
    assert stats["prompt_coverage"] >= 0.03
    for prompt in ZH_PROMPTS:
        started = [t for t in texts if t.startswith(prompt)]
        assert len(started) / len(texts) >= 0.03, prompt
        # The prompt is continued, never cut off by the end of a sentence, even in degraded texts.
        assert all(len(t) > len(prompt) and t[len(prompt)] not in "。！？" for t in started), prompt
        # ...and continued in many different ways.
        assert len({t[len(prompt) : len(prompt) + 4] for t in started}) >= 10, prompt


def test_prompt_coverage_as_before_the_quality_mix(texts: list[str]) -> None:
    # About 68% of texts start with a prompt, each about 4.5% (人工智能 is also the start of
    # 人工智能的未来, so both count here as the longest prompt a text starts with).
    by_prompt = [prompt_of(t) for t in texts]
    assert 0.64 < sum(map(bool, by_prompt)) / len(texts) < 0.72
    for prompt in ZH_PROMPTS:
        assert 0.035 < by_prompt.count(prompt) / len(texts) < 0.06, prompt


def test_every_style_follows_every_prompt(pairs: list[tuple[str, str]]) -> None:
    seen = {(prompt_of(text), style) for text, style in pairs}
    for style in ZH_STYLES:
        for prompt in ZH_PROMPTS:
            assert (prompt, style) in seen, (prompt, style)


def test_many_texts_open_otherwise(texts: list[str]) -> None:
    others = [t for t in texts if not t.startswith(ZH_PROMPTS)]
    assert len(others) / len(texts) > 0.25
    assert len({t[:2] for t in others}) > 100


def test_vocabulary_of_at_least_1500_lexicon_words(stats: dict[str, float]) -> None:
    assert len(ZH_LEXICON) >= 1500
    assert stats["vocab_size"] >= 1500


def test_connectors(texts: list[str], fluent: list[str], stats: dict[str, float]) -> None:
    corpus = "".join(texts)
    for connector in ZH_CONNECTORS:
        assert corpus.count(connector) >= 100, connector
    assert zh_corpus_stats(fluent)["connector_fraction"] > 0.6
    # Degraded texts rarely hold one, so the corpus as a whole has fewer.
    assert 0.35 < stats["connector_fraction"] < 0.6


def test_no_sentence_repeated_within_a_fluent_text(fluent: list[str]) -> None:
    for text in fluent:
        sentences = [s for s in re.split(r"[。！？]", text) if s]
        assert len(sentences) == len(set(sentences)), text


# ---- the quality mix ----


def test_style_shares(pairs: list[tuple[str, str]], stats: dict[str, float]) -> None:
    styles = [style for _, style in pairs]
    assert set(styles) == set(ZH_STYLES)
    assert 0.5 <= styles.count("fluent") / len(styles) <= 0.6
    for style in ZH_STYLES[1:]:
        assert 0.03 <= styles.count(style) / len(styles) <= 0.15, style
    # The stats see the degraded texts by their form alone, and see exactly those.
    assert stats["degraded_fraction"] == pytest.approx(1 - styles.count("fluent") / len(styles))
    assert 0.4 <= stats["degraded_fraction"] <= 0.5


def test_each_degraded_style_has_its_defect(pairs: list[tuple[str, str]]) -> None:
    for text, style in pairs:
        prompt = prompt_of(text)
        completion = text[len(prompt) :]
        clauses = [c for c in re.split(r"[，。！？：]", text) if c]
        if style == "fragment":
            assert len(text) < MIN_CHARS, text
        elif style == "stutter":
            assert re.search(r"(.{1,4})，?\1，?\1", completion), text
        elif style == "loop":
            assert len(clauses) > len(set(clauses)), text
        elif style == "list":
            assert text[-1] not in "。！？" and text.count("，") >= 5, text
            assert not any(c in text for c in ZH_CONNECTORS), text
        elif style == "echo" and prompt:
            assert text.count(prompt.rstrip("，")) >= 2, text
        elif style == "unpunctuated":
            assert not re.search(r"[，。！？、：；]", completion), text


def test_seed_reward_separates_fluent_and_degraded_texts(pairs: list[tuple[str, str]]) -> None:
    # Each text that starts with a prompt, scored as that prompt's completion.
    scored = [(prompt_of(t), t[len(prompt_of(t)) :], s) for t, s in pairs[:4000] if prompt_of(t)]
    rewards = seed_heuristic_reward([p for p, _, _ in scored], [c for _, c, _ in scored])
    fluent = [r for r, (_, _, s) in zip(rewards, scored) if s == "fluent"]
    degraded = [r for r, (_, _, s) in zip(rewards, scored) if s != "fluent"]
    assert 0.55 <= statistics.mean(rewards) <= 0.75
    assert statistics.pstdev(rewards) >= 0.25
    assert statistics.mean(fluent) >= 0.85
    assert statistics.mean(degraded) <= 0.45


def test_every_template_slot_is_defined() -> None:
    # Otherwise a rarely drawn template would fail only when the dice reach it.
    # The rules and categories live in data files, where nothing else checks their names.
    for templates in zh_grammar.RULES.values():
        for template in templates:
            for slot in re.findall(r"\{(\w+)\}", template):
                assert slot in zh_grammar.RULES or slot in zh_grammar.LEXICON, slot
    assert not set(zh_grammar.RULES) & set(zh_grammar.LEXICON)


def test_every_topic_has_its_rules() -> None:
    # A text on a topic may need any of these; a missing one would fail only when drawn.
    for topic in zh_grammar.TOPICS:
        for part in ("free", "claim", "more", "example", "contrast", "result", "best"):
            assert f"{topic}_{part}" in zh_grammar.RULES, (topic, part)


def test_list_categories_are_lexicon_categories_for_every_topic() -> None:
    assert set(zh_degraded._LIST_CATEGORIES) == set(zh_grammar.TOPICS)
    for categories in zh_degraded._LIST_CATEGORIES.values():
        assert all(c in zh_grammar.LEXICON for c in categories), categories


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
    assert zh_corpus_stats([])["degraded_fraction"] == 0.0


def test_degraded_fraction_by_hand() -> None:
    texts = [
        "人工智能正在改变医疗行业，医生可以用它来分析医学影像。",  # fluent
        "今天天气很好很好，我们去公园散步，大家都觉得很开心。",  # a stutter
        "人工智能正在改变医疗行业，医生可以用它来分析医学影像",  # no final mark
        "我认为教育很重要。我认为教育很重要。我认为教育很重要。",  # a loop
        "我认为教育很重要。",  # too short
    ]
    assert zh_corpus_stats(texts)["degraded_fraction"] == pytest.approx(4 / 5)
