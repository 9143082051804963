"""The Chinese corpus's degraded texts: each an imitation of a weak model's output on the same
topics and after the same prompts.

A fragment that stops a few characters in, a word stuttered over and over, the opening said again,
nouns strung on commas, the prompt restated, or a text without punctuation: the ways that the seed
task's text-quality reward penalises. Each builder draws from the text's ``random.Random`` in a
fixed order, as ``zh_grammar.py`` does, and starts from one of its openings.
"""

from __future__ import annotations

import random

from alignlab.base.corpus_data import load_data
from alignlab.base.zh_grammar import (
    LEXICON,
    RELATIONS,
    ZH_CONNECTORS,
    ZH_PROMPTS,
    draw_opening,
    end_sentence,
    fluent_text,
    follow_up,
)
from alignlab.base.zh_text import PUNCT_SPLIT, segment

_DATA = load_data("zh_grammar")
# Lexicon categories that a run-on list on each topic draws its nouns from.
_LIST_CATEGORIES: dict[str, tuple[str, ...]] = {topic: tuple(c) for topic, c in _DATA["list_categories"].items()}
# What an echo puts between the prompt and its restatement: 人工智能就是人工智能.
_ECHO_GLUES: tuple[str, ...] = tuple(_DATA["echo_glues"])

# Longest first, so that a text opening with 人工智能的未来 is not taken for one opening with 人工智能.
_PROMPTS_LONGEST_FIRST = tuple(sorted(ZH_PROMPTS, key=len, reverse=True))


def _prompt_of(text: str) -> str:
    """The prompt that ``text`` starts with, or "" if none."""
    return next((p for p in _PROMPTS_LONGEST_FIRST if text.startswith(p)), "")


def _first_clause(text: str) -> str:
    """``text`` up to its first punctuation mark, a leading comma or colon skipped."""
    return PUNCT_SPLIT.split(text.lstrip("，："), maxsplit=1)[0]


def _lead(text: str, max_chars: int, rng: random.Random) -> str:
    """A few characters from the start of ``text``'s first clause, ending on a word where possible.

    The cut falls at the end of a lexicon word within ``max_chars`` characters (a model that stops
    early still tends to stop after a word), else anywhere from the second character on.
    """
    clause = _first_clause(text)
    ends = [start + len(word) for start, word in segment(clause) if start + len(word) <= max_chars]
    if ends:
        return clause[: rng.choice(ends)]
    return clause[: rng.randint(min(2, max_chars, len(clause)), max_chars)]


def _head(clause: str, rng: random.Random) -> str:
    """What a degraded text keeps of an opening clause: its prompt, or else a short first clause.

    Openings without a prompt often start with a short frame (说实话，一般来说，); any other first
    clause is cut to a lead of a few characters, leaving at least one to go on with.
    """
    prompt = _prompt_of(clause)
    if prompt:
        return prompt
    first = _first_clause(clause)
    if len(first) <= 8 and clause[len(first) : len(first) + 1] in ("，", "："):
        return first
    return _lead(first, max(1, min(6, len(first) - 1)), rng)


def _rest(clause: str, head: str) -> tuple[str, str]:
    """The clause after ``head``, split into its leading comma or colon (if any) and the rest."""
    rest = clause[len(head) :]
    mark = rest[:1] if rest[:1] in ("，", "：") else ""
    return mark, rest[len(mark) :]


def _maybe_end(text: str, p: float, rng: random.Random) -> str:
    """``text`` with a final 。 with probability ``p``: weak models often just stop."""
    return text + "。" if rng.random() < p else text


def fragment(rng: random.Random) -> str:
    """The opening cut off a few characters after its prompt (or lead), mostly with no final mark."""
    clause, _ = draw_opening(rng)
    head = _head(clause, rng)
    comma, rest = _rest(clause, head)
    piece = _lead(rest, rng.choice((1, 2, 3, 4, 6)), rng)
    return _maybe_end(head + comma + piece, 0.3, rng)


def stutter(rng: random.Random) -> str:
    """The first word after the prompt said three to five times: 今天天气很好好好."""
    clause, _ = draw_opening(rng)
    head = _head(clause, rng)
    comma, rest = _rest(clause, head)
    word = _lead(rest, 4, rng)
    separator = "，" if rng.random() < 0.3 else ""
    times = rng.choice((3, 4, 5))
    return _maybe_end(head + comma + separator.join([word] * times), 0.3, rng)


def loop(rng: random.Random) -> str:
    """The opening said again: the sentence twice or thrice, around a follow-up, or its clause."""
    clause, topic = draw_opening(rng)
    form = rng.choice(("twice", "around", "clause"))
    if form == "clause":
        return "，".join([_first_clause(clause)] * rng.choice((2, 3, 4)))
    sentence = end_sentence(clause, rng)
    if form == "twice":
        return sentence * rng.choice((2, 3))
    relation = rng.choice(RELATIONS)
    return sentence + end_sentence(follow_up(topic, relation, rng), rng) + sentence


def run_on_list(rng: random.Random) -> str:
    """The opening clause, then topic nouns strung on commas, drawn from a few so some recur."""
    clause, topic = draw_opening(rng)
    first = _first_clause(clause)
    if any(c in first for c in ZH_CONNECTORS):
        first = _head(clause, rng).rstrip("，")
    words = LEXICON[rng.choice(_LIST_CATEGORIES[topic])]
    pool = rng.sample(words, min(len(words), rng.randint(3, 7)))
    items = [rng.choice(pool) for _ in range(rng.randint(5, 12))]
    return "，".join([first, *items])


def echo(rng: random.Random) -> str:
    """The prompt (or lead) restated once or twice, perhaps trailing off into a word."""
    clause, _ = draw_opening(rng)
    head = _head(clause, rng)
    core = head.rstrip("，")
    glue = rng.choice(_ECHO_GLUES)
    if head.endswith("，"):
        glue = glue.lstrip("，")  # 在我看来，，就是 would double the comma
    text = head + glue + core
    if rng.random() < 0.3:
        text += "，" + core
    if rng.random() < 0.4:
        text += _lead(_rest(clause, head)[1], 3, rng)
    return _maybe_end(text, 0.4, rng)


def unpunctuated(rng: random.Random) -> str:
    """A fluent text run together with every punctuation mark after its prompt dropped."""
    text = fluent_text(rng)
    # The prompt is what the model is given, so it keeps its comma (在我看来，).
    prompt = _prompt_of(text)
    return prompt + PUNCT_SPLIT.sub("", text[len(prompt) :])
