"""Script-aware text units, shared by the diversity metrics and the seed task's reward.

Splitting on spaces treats a whole Chinese sentence as one word; here each Han character is a
unit, each Latin word is a unit (lower-cased) and each run of digits is a unit.
"""

from __future__ import annotations

import re

# Han ideographs: CJK Unified Ideographs, Extension A, Compatibility, Extensions B and beyond.
HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
LATIN_WORD = r"[A-Za-z]+(?:'[A-Za-z]+)?"
_UNIT = re.compile(rf"[{HAN}]|{LATIN_WORD}|[0-9]+")


def text_units(text: str) -> list[str]:
    """Each Han character, each Latin word (lower-cased) and each digit run, in order."""
    return [unit.lower() for unit in _UNIT.findall(text)]
