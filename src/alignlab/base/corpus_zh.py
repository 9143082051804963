"""Generated Chinese short texts for pretraining alignlab's tiny base model.

The teaching notebook this toolkit reproduces prompts its model with 15 Chinese openings
(``ZH_PROMPTS``). A model pretrained only on English cannot continue them, so this module writes a
Chinese corpus in which every one of those prompts begins many texts and is continued
grammatically, while a third of the texts open otherwise so that the model sees varied Chinese.

The fluent texts come from a small probabilistic grammar (``zh_grammar.py``, with its rules and
word categories in ``data/zh_grammar.yaml`` and ``data/zh_lexicon.yaml``): an opening sentence on
one of 13 topics followed by up to three sentences on the same topic, each tied to what came before
by a connector. Everything is drawn from one ``random.Random(seed)``, so a seed fixes the corpus.

Not every text is fluent. A real small base model writes text of uneven quality, and the seed task
needs that spread: if every sample were well formed, its text-quality reward would leave alignment
nothing to improve. So about 43% of the texts are degraded in one of the ways the reward penalises,
each an imitation of a weak model's output on the same topics and after the same prompts
(``zh_degraded.py``): a fragment that stops a few characters in, a word stuttered over and over,
the opening said again, nouns strung on commas, the prompt restated, or a text without punctuation.
``ZH_STYLES`` names the styles and ``generate_zh_texts_with_style`` tells each text's style.

``zh_corpus_stats`` (``corpus_stats.py``) summarises a corpus; its ``vocab_size`` counts the
distinct ``ZH_LEXICON`` words found in the texts by forward maximum matching, the usual dictionary
segmentation of Chinese, and its ``degraded_fraction`` the texts without the fluent form.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from alignlab.base.corpus_stats import zh_corpus_stats
from alignlab.base.zh_degraded import echo, fragment, loop, run_on_list, stutter, unpunctuated
from alignlab.base.zh_grammar import ZH_CONNECTORS, ZH_PROMPTS, fluent_text
from alignlab.base.zh_text import MAX_CHARS, MIN_CHARS, ZH_LEXICON, lexicon_words, looks_fluent

__all__ = [
    "MAX_CHARS",
    "MIN_CHARS",
    "ZH_CONNECTORS",
    "ZH_LEXICON",
    "ZH_PROMPTS",
    "ZH_STYLES",
    "generate_zh_texts",
    "generate_zh_texts_with_style",
    "lexicon_words",
    "zh_corpus_stats",
]

# Shares of the draws. The seed reward gives fluent texts about 0.94 and degraded ones about 0.34.
# Short degraded texts repeat more often and repeats are dropped, so about 43% of the kept texts are
# degraded rather than the 48% drawn.
_STYLE_SHARES: dict[str, float] = {
    "fluent": 0.52,
    "fragment": 0.12,  # stops a few characters after the opening: 我真的很喜欢吃
    "stutter": 0.08,  # one word over and over: 今天天气很好好好, 喜欢吃火锅吃火锅吃火锅
    "loop": 0.07,  # the opening sentence or clause again: A。A。 or A。B。A。
    "list": 0.06,  # nouns strung on commas, no connector, no final mark
    "echo": 0.09,  # the prompt restated: 人工智能就是人工智能
    "unpunctuated": 0.05,  # a fluent text that lost all its punctuation
}
ZH_STYLES: tuple[str, ...] = tuple(_STYLE_SHARES)

_BUILDERS: dict[str, Callable[[random.Random], str]] = {
    "fluent": fluent_text,
    "fragment": fragment,
    "stutter": stutter,
    "loop": loop,
    "list": run_on_list,
    "echo": echo,
    "unpunctuated": unpunctuated,
}


def generate_zh_texts_with_style(num_texts: int, seed: int) -> list[tuple[str, str]]:
    """``num_texts`` distinct Chinese short texts with their styles (``ZH_STYLES``), from ``seed``.

    Each text draws its style by ``_STYLE_SHARES``: about 57% are "fluent", 1 to 4 sentences and
    MIN_CHARS to MAX_CHARS characters with connectors and full-width punctuation; the rest are
    degraded as a weak model's output is (fragments, stutters, loops, run-on lists, echoes of the
    prompt, no punctuation). Whatever the style, about 68% open with one of ``ZH_PROMPTS`` (each
    prompt about 4.5% of texts, "人工智能" twice that since it also begins "人工智能的未来"); the
    others open on the same topics in other ways.
    """
    if num_texts < 0:
        raise ValueError(f"num_texts must be non-negative, got {num_texts}")
    rng = random.Random(seed)
    styles = list(_STYLE_SHARES)
    shares = list(_STYLE_SHARES.values())
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    # The grammar yields far more distinct texts than any corpus asks for; the budget only stops
    # an endless loop if that ever stops being true.
    budget = 50 * num_texts + 1000
    while len(pairs) < num_texts:
        if budget == 0:
            raise ValueError(f"the grammar produced only {len(pairs)} distinct texts")
        budget -= 1
        style = rng.choices(styles, weights=shares)[0]
        text = _BUILDERS[style](rng)
        # A draw whose form belies its style (a fluent text over MAX_CHARS, say) is drawn again.
        if text not in seen and looks_fluent(text) == (style == "fluent"):
            seen.add(text)
            pairs.append((text, style))
    return pairs


def generate_zh_texts(num_texts: int, seed: int) -> list[str]:
    """The texts of ``generate_zh_texts_with_style``: a deterministic mix of fluent and degraded."""
    return [text for text, _ in generate_zh_texts_with_style(num_texts, seed)]
