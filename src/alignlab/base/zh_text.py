"""What the Chinese corpus's generator and its statistics both need to know about a text: which
lexicon words it holds, and whether it has the form of a fluent text.

Words are found by forward maximum matching against the lexicon of ``data/zh_lexicon.yaml``, the
usual dictionary segmentation of Chinese.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from alignlab.base.corpus_data import load_data

# Length bounds of a fluent text; degraded ones may be shorter (fragments) or longer (lists).
MIN_CHARS, MAX_CHARS = 20, 90

ZH_LEXICON: frozenset[str] = frozenset(w for words in load_data("zh_lexicon").values() for w in words.split())

PUNCT_SPLIT = re.compile(r"[，。！？、：；\s]+")
# A span of 2 to 8 characters said twice in a row, perhaps across a comma: 很好很好, X，X.
_STUTTER = re.compile(r"([^，。！？]{2,8})，?\1")


def _lengths_by_first_char(words: frozenset[str]) -> dict[str, tuple[int, ...]]:
    """First character -> lengths of the words starting with it, longest first."""
    lengths: dict[str, set[int]] = {}
    for word in words:
        lengths.setdefault(word[0], set()).add(len(word))
    return {char: tuple(sorted(ns, reverse=True)) for char, ns in lengths.items()}


_WORD_LENGTHS = _lengths_by_first_char(ZH_LEXICON)


def segment(clause: str) -> Iterator[tuple[int, str]]:
    """``(start, word)`` for the ``ZH_LEXICON`` words of a clause, by forward maximum matching."""
    i = 0
    while i < len(clause):
        for n in _WORD_LENGTHS.get(clause[i], ()):
            if clause[i : i + n] in ZH_LEXICON:
                yield i, clause[i : i + n]
                i += n
                break
        else:
            i += 1


def lexicon_words(text: str) -> list[str]:
    """The ``ZH_LEXICON`` words of ``text``, by forward maximum matching.

    At each position the longest lexicon word that starts there is taken; characters that begin
    no word are skipped. Words never span punctuation.
    """
    return [word for clause in PUNCT_SPLIT.split(text) for _, word in segment(clause)]


def looks_fluent(text: str) -> bool:
    """Whether ``text`` has the form of a fluent text.

    That form: MIN_CHARS to MAX_CHARS characters, a final 。！？, no clause said twice and no span
    said twice in a row. The generator keeps a fluent draw only if it has this form and a degraded
    one only if it has not, so ``zh_corpus_stats`` can count degraded texts from the texts alone.
    """
    if not MIN_CHARS <= len(text) <= MAX_CHARS or text[-1] not in "。！？":
        return False
    clauses = [c for c in PUNCT_SPLIT.split(text) if c]
    return len(clauses) == len(set(clauses)) and not _STUTTER.search(text)
