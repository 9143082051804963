"""The grammar of the Chinese corpus's fluent texts.

``RULES`` (from ``data/zh_grammar.yaml``) maps a rule name to templates whose ``{slot}`` fields
name either another rule or a word category of ``LEXICON`` (``data/zh_lexicon.yaml``); expanding
a rule picks one template and fills its slots at random. A text is an opening sentence on one of
13 topics followed by up to three sentences on the same topic, each tied to what came before by a
relation (addition, example, contrast, consequence, concession) and its connector (而且, 例如,
但是, 因此, 虽然……但是……). Places come with the activities that fit them and flowers with their
season, so the texts also make sense.

Every function draws from the text's ``random.Random`` in a fixed order, so a seed fixes the
corpus. ``zh_degraded.py`` writes the degraded texts and ``corpus_zh.py`` mixes the two.
"""

from __future__ import annotations

import random
import re

from alignlab.base.corpus_data import load_data
from alignlab.base.zh_text import MAX_CHARS, MIN_CHARS

_DATA = load_data("zh_grammar")

# The seed notebook's 15 prompts, in its order; every one of them begins many texts.
ZH_PROMPTS: tuple[str, ...] = tuple(load_data("zh_prompts")["prompts"])
ZH_CONNECTORS: tuple[str, ...] = tuple(_DATA["connectors"])
LEXICON: dict[str, tuple[str, ...]] = {key: tuple(words.split()) for key, words in load_data("zh_lexicon").items()}
RULES: dict[str, tuple[str, ...]] = {name: tuple(templates) for name, templates in _DATA["rules"].items()}
TOPICS: tuple[str, ...] = tuple(_DATA["topics"])
# (opening rule, topic or None) of each prompt.
_PROMPT_OPENINGS: dict[str, tuple[str, str | None]] = {
    p: (rule, topic) for p, (rule, topic) in _DATA["prompt_openings"].items()
}
_RELATION_CONNECTORS = {relation: tuple(c) for relation, c in _DATA["relation_connectors"].items()}
_NARRATIVE_CONNECTORS = {relation: tuple(c) for relation, c in _DATA["narrative_connectors"].items()}
_NARRATIVE_TOPICS = frozenset(_DATA["narrative_topics"])

# How follow-ups relate to what came before, and how often each relation is drawn.
RELATIONS = ("more", "example", "contrast", "result", "concede")
_RELATION_WEIGHTS = (3, 2, 2, 2, 1)

# Share of drawn openings that start with a prompt. Short degraded texts after a prompt repeat
# often and their repeats are dropped, so about 68% of the kept texts start with one: 0.68 / 15
# gives each prompt about 4.5% of the corpus, well above the 3% that the model needs to see it
# continued often, and leaves a third of the texts to open in other ways.
_PROMPT_SHARE = 0.70

_SLOT = re.compile(r"\{(\w+)\}")


def _compile(template: str) -> tuple[str, ...]:
    """Split a template into alternating literal text (even indices) and slot names (odd)."""
    return tuple(_SLOT.split(template))


_GRAMMAR: dict[str, tuple[tuple[str, ...], ...]] = {
    name: tuple(_compile(t) for t in templates) for name, templates in RULES.items()
}


def expand(symbol: str, rng: random.Random) -> str:
    """Expand a rule: pick one of its templates and fill every slot, recursively."""
    parts = rng.choice(_GRAMMAR[symbol])
    out: list[str] = []
    taken: set[str] = set()
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(part)
        elif part in LEXICON:
            out.append(_draw_word(LEXICON[part], taken, rng))
        else:
            out.append(expand(part, rng))
    return "".join(out)


def _draw_word(words: tuple[str, ...], taken: set[str], rng: random.Random) -> str:
    """Draw a word not yet used in this template, so "X和X" never happens."""
    word = rng.choice(words)
    for _ in range(8):
        if word not in taken:
            break
        word = rng.choice(words)
    taken.add(word)
    return word


def end_sentence(clause: str, rng: random.Random) -> str:
    """End a clause with 。 (mostly) or ！, unless it already ends in its own punctuation."""
    if clause.endswith(("。", "！", "？")):
        return clause
    return clause + ("！" if rng.random() < 0.1 else "。")


def draw_opening(rng: random.Random) -> tuple[str, str]:
    """Return an opening clause and its topic; ``_PROMPT_SHARE`` of them start with a prompt."""
    if rng.random() < _PROMPT_SHARE:
        prompt = rng.choice(ZH_PROMPTS)
        rule, topic = _PROMPT_OPENINGS[prompt]
        if rule == "open_weather":
            # Good and bad weather go on differently (a walk in the park, a day indoors).
            topic = rng.choice(("sunny", "rainy"))
            return expand(f"open_{topic}", rng), topic
        if topic is None:
            topic = rng.choice(TOPICS)
            return prompt + expand(f"{topic}_{rule}", rng), topic
        return expand(rule, rng), topic
    topic = rng.choice(TOPICS)
    if rng.random() < 0.5:
        return expand(f"{topic}_free", rng), topic
    return expand("frame", rng) + expand(f"{topic}_claim", rng), topic


def follow_up(topic: str, relation: str, rng: random.Random) -> str:
    """One sentence that continues ``topic`` in the given relation, connector included."""
    if relation == "concede" and f"{topic}_concede" in RULES:
        return expand(f"{topic}_concede", rng)
    if relation == "concede":
        # 虽然 <a drawback>，但是 <the claim still holds>
        contrast = expand(f"{topic}_contrast", rng)
        return f"虽然{contrast}，{expand('concede_lead', rng)}{expand(f'{topic}_claim', rng)}"
    connectors = _RELATION_CONNECTORS[relation]
    if topic in _NARRATIVE_TOPICS:
        connectors = _NARRATIVE_CONNECTORS.get(relation, connectors)
    connector = rng.choice(connectors)
    return connector + expand(f"{topic}_{relation}", rng)


_TERMINAL = re.compile(r"[。！？]")


def _repeats(sentence: str, text: str) -> bool:
    """Whether ``sentence`` shares a span of 6 characters with ``text`` (a template used twice)."""
    return any(sentence[i : i + 6] in text for i in range(len(sentence) - 5))


def fluent_text(rng: random.Random) -> str:
    """One fluent text: an opening and follow-ups, 1 to 4 sentences kept within MAX_CHARS."""
    clause, topic = draw_opening(rng)
    text = end_sentence(clause, rng)
    target = rng.choices((1, 2, 3, 4), weights=(12, 33, 35, 20))[0]
    relations = list(RELATIONS)
    weights = list(_RELATION_WEIGHTS)
    while (
        relations
        and len(_TERMINAL.findall(text)) < 4
        and (len(_TERMINAL.findall(text)) < target or len(text) < MIN_CHARS)
    ):
        # Each relation at most once per text, and no clause twice: no connector or sentence loops.
        k = rng.choices(range(len(relations)), weights=weights)[0]
        relation = relations.pop(k)
        weights.pop(k)
        sentence = end_sentence(follow_up(topic, relation, rng), rng)
        if len(text) + len(sentence) <= MAX_CHARS and not _repeats(sentence, text):
            text += sentence
    if len(_TERMINAL.findall(text)) < 4 and len(text) <= MAX_CHARS - 8 and rng.random() < 0.06:
        text += expand("ask", rng)
    return text
