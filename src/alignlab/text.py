"""Script-aware text units, shared by the diversity metrics and the seed task's reward, and the
diversity metrics themselves (distinct-n, BLEU, self-BLEU) as pure functions.

Splitting on spaces treats a whole Chinese sentence as one word; here each Han character is a
unit, each Latin word is a unit (lower-cased) and each run of digits is a unit.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

# Han ideographs: CJK Unified Ideographs, Extension A, Compatibility, Extensions B and beyond.
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
LATIN_WORD = r"[A-Za-z]+(?:'[A-Za-z]+)?"
_UNIT = re.compile(rf"[{HAN}]|{LATIN_WORD}|[0-9]+")


def text_units(text: str) -> list[str]:
    """Each Han character, each Latin word (lower-cased) and each digit run, in order."""
    return [unit.lower() for unit in _UNIT.findall(text)]


def _ngrams(units: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(units[i : i + n]) for i in range(len(units) - n + 1)]


def distinct_n(texts: Sequence[str], n: int) -> float:
    """Distinct n-grams over all n-grams of all texts (Li et al. 2016); units are words, or
    characters for CJK text. 0 when there are no n-grams."""
    grams = [g for text in texts for g in _ngrams(text_units(text), n)]
    return len(set(grams)) / len(grams) if grams else 0.0


def bleu(hypothesis: Sequence[str], references: Sequence[Sequence[str]], max_n: int = 4) -> float:
    """Sentence BLEU (Papineni et al. 2002) of unit lists with multi-reference clipping, uniform
    weights up to ``max_n`` (capped at the hypothesis length) and the brevity penalty against the
    closest reference length. Zero matches of an order count as 0.1 (Chen & Cherry 2014,
    smoothing 1) so that short texts do not all score 0."""
    if not hypothesis or not references:
        return 0.0
    orders = min(max_n, len(hypothesis))
    log_precision = 0.0
    for n in range(1, orders + 1):
        hyp_counts = Counter(_ngrams(hypothesis, n))
        max_ref: Counter = Counter()
        for ref in references:
            for gram, count in Counter(_ngrams(ref, n)).items():
                max_ref[gram] = max(max_ref[gram], count)
        matches = sum(min(count, max_ref[gram]) for gram, count in hyp_counts.items())
        total = sum(hyp_counts.values())
        log_precision += math.log((matches if matches else 0.1) / total) / orders
    closest = min((abs(len(r) - len(hypothesis)), len(r)) for r in references)[1]
    brevity = 1.0 if len(hypothesis) > closest else math.exp(1 - closest / len(hypothesis))
    return brevity * math.exp(log_precision)


def self_bleu(texts: Sequence[str], max_n: int = 4) -> float:
    """Mean BLEU of each text against all the others as references (Zhu et al. 2018, Texygen):
    higher means less diverse. Equal to averaging ``bleu(text_i, others)`` over i, computed in
    time linear in the number of n-grams: for each n-gram only the largest and second-largest
    count over all texts are kept, so the clipping count "max over the other texts" is known."""
    units = [text_units(t) for t in texts]
    counts = [[Counter(_ngrams(u, n)) for n in range(1, max_n + 1)] for u in units]
    top: list[dict[tuple[str, ...], tuple[int, int, int]]] = [{} for _ in range(max_n)]  # gram -> (max, owner, second)
    for i, per_n in enumerate(counts):
        for n, counter in enumerate(per_n):
            for gram, c in counter.items():
                best, owner, second = top[n].get(gram, (0, -1, 0))
                top[n][gram] = (c, i, best) if c > best else (best, owner, max(second, c))
    lengths = sorted((len(u), i) for i, u in enumerate(units))
    scores = []
    for i, u in enumerate(units):
        if not u or len(units) < 2:
            continue
        orders = min(max_n, len(u))
        log_precision = 0.0
        for n in range(orders):
            matches = 0
            for gram, c in counts[i][n].items():
                best, owner, second = top[n][gram]
                matches += min(c, second if owner == i else best)
            total = len(u) - n
            log_precision += math.log((matches if matches else 0.1) / total) / orders
        closest = min((abs(length - len(u)), length) for length, j in lengths if j != i)[1]
        brevity = 1.0 if len(u) > closest else math.exp(1 - closest / len(u))
        scores.append(brevity * math.exp(log_precision))
    return sum(scores) / len(scores) if scores else 0.0
