"""The notebook's heuristic reward, made script-aware: hand-checked values and orderings."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alignlab.base.corpus_zh import ZH_PROMPTS, generate_zh_texts_with_style
from alignlab.tasks.rewards import Reward
from alignlab.tasks.seed_reward import (
    SeedHeuristicReward,
    diversity_term,
    fluency_term,
    han_fraction,
    length_term,
    score_terms,
    seed_heuristic_reward,
    text_units,
)

FLUENT_ZH = "今天天气很好，阳光明媚，所以我们决定去公园散步。"
REPETITIVE_ZH = "好好好好好好好好好好好好"
FLUENT_EN = "The weather is lovely today, so we decided to walk in the park."
REPETITIVE_EN = "good good good good good good good good"


def reward(prompt: str, completion: str) -> float:
    return seed_heuristic_reward([prompt], [completion])[0]


# ---- units ----


def test_notebook_defect_fixed_han_characters_are_units() -> None:
    text = "今天天气很好，我们去公园散步吧。"
    # The notebook's split on spaces sees one "word" in the whole sentence.
    assert len(text.split()) == 1
    # 今天天气很好 (6) + 我们去公园散步吧 (8) = 14 Han units.
    assert len(text_units(text)) == 14


def test_units_split_mixed_scripts() -> None:
    assert text_units("我爱NLP和deep learning，2024年！") == [
        "我",
        "爱",
        "nlp",
        "和",
        "deep",
        "learning",
        "2024",
        "年",
    ]
    assert text_units("Don't stop") == ["don't", "stop"]
    assert text_units("。，！ ...") == []


def test_han_fraction() -> None:
    assert han_fraction(FLUENT_ZH) == 1.0
    assert han_fraction(FLUENT_EN) == 0.0
    # 很重要因为 is 5 Han characters; AI, it, can, help, people are 5 Latin words.
    assert han_fraction("AI很重要，因为it can help people。") == 0.5
    assert han_fraction("2024") == 0.0


# ---- terms, worked out by hand ----


def test_length_term_targets_per_script() -> None:
    assert length_term(14, f=1.0) == 1.0
    assert length_term(5, f=1.0) == pytest.approx(5 / 8)  # Han: 8 units at least
    assert length_term(4, f=0.0) == pytest.approx(4 / 5)  # Latin: 5 words at least
    assert length_term(90, f=1.0) == pytest.approx(0.5)  # Han: 1 - (90 - 60) / 60
    assert length_term(75, f=0.0) == pytest.approx(0.5)  # Latin: 1 - (75 - 50) / 50
    assert length_term(200, f=1.0) == 0.0


def test_fluency_of_a_fluent_chinese_sentence() -> None:
    # One connector (所以): 0.4 * 1/2; full-width punctuation: 0.3; ends with 。: 0.3.
    units = text_units(FLUENT_ZH)
    assert fluency_term(FLUENT_ZH, units, f=1.0) == pytest.approx(0.8)


def test_fluency_wants_full_width_punctuation_in_chinese() -> None:
    text = "今天天气很好,所以我们去公园."
    # Only the connector counts: half-width , and . are English punctuation.
    assert fluency_term(text, text_units(text), f=1.0) == pytest.approx(0.2)


def test_fluency_of_mixed_text_blends_both_scripts() -> None:
    text = "AI很重要，因为it can help people。"
    # f = 0.5. Connector 因为: 0.2. Full-width marks count half: 0.3 * 0.5 twice.
    assert fluency_term(text, text_units(text), f=0.5) == pytest.approx(0.5)


def test_terms_of_a_repetitive_chinese_string() -> None:
    terms = score_terms("今天天气很", REPETITIVE_ZH)
    # 12 units, 1 distinct: u = (1/12) / 0.6; 11 bigrams, 1 distinct: b = (1/11) / 0.9;
    # f = 1, so diversity = (u + b) / 2.
    assert terms["diversity"] == pytest.approx(((1 / 12) / 0.6 + (1 / 11) / 0.9) / 2)
    assert terms["diversity"] == pytest.approx(diversity_term(REPETITIVE_ZH, ["好"] * 12, 1.0))
    # 11 immediate repeats against an allowance of 1 + 12/20: far past the full penalty.
    assert terms["repetition"] == 1.0
    assert terms["fluency"] == 0.0
    assert terms["length"] == 1.0
    # 0.2 + 0.25 * 1 + 0.25 * diversity - 0.6 * 1
    assert terms["reward"] == pytest.approx(0.2 + 0.25 + 0.25 * terms["diversity"] - 0.6)


def test_terms_of_a_fluent_chinese_completion() -> None:
    terms = score_terms("今天天气很", "好，阳光明媚，所以我们决定去公园散步。")
    assert terms["units"] == 16
    assert terms["length"] == terms["diversity"] == 1.0
    assert terms["fluency"] == pytest.approx(0.8)
    assert terms["repetition"] == terms["echo"] == 0.0
    # 0.2 + 0.25 + 0.25 + 0.3 * 0.8
    assert terms["reward"] == pytest.approx(0.94)


def test_broken_bytes_are_garbled() -> None:
    # What PPO on the unpenalised reward produced: U+FFFD where a character's bytes were cut.
    clean = score_terms("我真的很喜欢", "这座城市，我真的很喜欢鹦鹉。")
    one = score_terms("我真的很喜欢", "这座城市，我真的很喜欢\ufffd鹉。")
    two = score_terms("我真的很喜欢", "这座城市，我真的很喜欢\ufffd鹉，\ufffd鱼。")
    assert (clean["garbled"], one["garbled"], two["garbled"]) == (0.0, 0.5, 1.0)
    terms = 0.25 * one["length"] + 0.25 * one["diversity"] + 0.3 * one["fluency"]
    assert one["reward"] == pytest.approx(0.2 + terms - 0.6 * one["repetition"] - 0.5 * one["echo"] - 0.5 * 0.5)
    assert clean["reward"] > one["reward"] > two["reward"]


def test_echo_of_the_prompt() -> None:
    terms = score_terms("今天天气很", "今天天气很")
    # Every bigram of the completion is in the prompt.
    assert terms["echo"] == 1.0
    # 天天 is one natural immediate repeat, within the allowance.
    assert terms["repetition"] == 0.0
    # 0.2 + 0.25 * 5/8 + 0.25 * 1 + 0 - 0.5 * 1
    assert terms["reward"] == pytest.approx(0.10625)


def test_restating_the_prompt_inside_a_real_answer_is_not_echo() -> None:
    # 4 of the 20 bigrams come from the prompt: below the 30% where echo starts.
    assert score_terms("今天天气很", FLUENT_ZH)["echo"] == 0.0


# ---- orderings ----


def test_fluent_chinese_beats_repetition_and_echo() -> None:
    prompt = "今天天气很"
    fluent = reward(prompt, FLUENT_ZH)
    assert fluent > reward(prompt, REPETITIVE_ZH)
    assert fluent > reward(prompt, "今天天气很")
    assert fluent > reward(prompt, "我喜欢你我喜欢你我喜欢你我喜欢你")
    assert reward(prompt, "今天天气很") > reward(prompt, "今天天气很今天天气很今天天气很")


def test_fluent_english_beats_repetition_and_echo() -> None:
    prompt = "The weather today is"
    fluent = reward(prompt, FLUENT_EN)
    assert fluent == pytest.approx(0.94)  # 13 words, one connector (so), punctuation, full stop
    assert fluent > reward(prompt, REPETITIVE_EN)
    assert fluent > reward(prompt, "the weather today is the weather today is")


def test_a_rich_answer_beats_a_bare_one() -> None:
    prompt = "人工智能"
    rich = "正在改变医疗领域。例如，医生可以用它来分析医学影像，但是我们也要保护病人的隐私。"
    assert reward(prompt, rich) > reward(prompt, "正在改变医疗领域") > reward(prompt, "医疗")


@pytest.mark.parametrize("completion", ["", "   ", "。！？", "好", "a", "。好。"])
def test_empty_or_near_empty_scores_minus_one(completion: str) -> None:
    assert reward("我认为", completion) == -1.0


def test_generated_chinese_corpus_scores_well() -> None:
    # The fluent texts of the pretraining corpus, cut after their prompts, are what good
    # completions look like (its degraded texts are meant to score low).
    longest_first = sorted(ZH_PROMPTS, key=len, reverse=True)
    pairs = []
    fluent = [text for text, style in generate_zh_texts_with_style(300, seed=5) if style == "fluent"]
    for text in fluent:
        prompt = next((p for p in longest_first if text.startswith(p)), "")
        pairs.append((prompt, text[len(prompt) :]))
    scores = seed_heuristic_reward([p for p, _ in pairs], [c for _, c in pairs])
    assert min(scores) > 0.5
    assert sum(scores) / len(scores) > 0.85


# ---- interface ----


def test_reward_protocol() -> None:
    scorer = SeedHeuristicReward()
    assert isinstance(scorer, Reward)
    assert scorer.name == "seed_heuristic"
    prompts, completions = ["今天天气很", "I think"], [FLUENT_ZH, REPETITIVE_EN]
    assert scorer(prompts, completions) == seed_heuristic_reward(prompts, completions)
    assert scorer([], []) == []


def test_mismatched_batch_is_rejected() -> None:
    with pytest.raises(ValueError):
        seed_heuristic_reward(["a", "b"], ["only one"])


_MIXED = st.text(alphabet=st.sampled_from(list("今天气很好好，。！？因为所以abc don't,.!? 12")))


@given(prompt=st.text(max_size=30), completion=st.text(max_size=200))
def test_reward_and_terms_in_range_for_any_text(prompt: str, completion: str) -> None:
    terms = score_terms(prompt, completion)
    assert -1.0 <= terms["reward"] <= 1.0
    for name in ("length", "diversity", "fluency", "repetition", "echo", "han_fraction"):
        assert 0.0 <= terms[name] <= 1.0, name


@given(prompt=_MIXED, completion=_MIXED)
def test_reward_in_range_for_mixed_chinese_and_english(prompt: str, completion: str) -> None:
    terms = score_terms(prompt, completion)
    assert -1.0 <= terms["reward"] <= 1.0
    for name in ("length", "diversity", "fluency", "repetition", "echo"):
        assert 0.0 <= terms[name] <= 1.0, name
