"""The corpus generators' data files, and the content hash that identifies a generator.

The word lists and rule tables of the generated corpora are YAML files in ``data/``, written by
hand with comments that say why a list is as it is; the generator modules load them once, at
import. Their logic stays Python.

``corpus_hash`` identifies the generator of a corpus: a sha256 over the bytes of its source files
and data files. Every embedded model's build report records the hash of the generator it was
trained on, so that loading the model can tell when the generator has changed since
(``alignlab.base.embedded_model_dir``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from alignlab.config import BaseBuildConfig

BASE_DIR = Path(__file__).parent
# Written beside every embedded model by its build: its corpus, its hash, held-out figures.
BUILD_REPORT = "build_report.json"

# The files whose bytes decide each language's corpus, relative to this package and "/"-separated.
# A module or data file that a generator starts reading must be added here, or a change to it
# would go unnoticed.
GENERATOR_FILES: dict[str, tuple[str, ...]] = {
    "en": ("corpus.py", "review_grammar.py", "data/reviews.yaml"),
    "zh": (
        "corpus_zh.py",
        "zh_grammar.py",
        "zh_degraded.py",
        "zh_text.py",
        "data/zh_grammar.yaml",
        "data/zh_lexicon.yaml",
        "data/zh_prompts.yaml",
    ),
    "arith": ("corpus_arith.py", "arith_grammar.py", "data/arithmetic.yaml"),
}


@cache
def load_data(name: str) -> dict[str, Any]:
    """``data/<name>.yaml``, parsed once per process. Callers copy what they keep into tuples, so
    the cached mapping is never changed."""
    # libyaml's safe loader where PyYAML was built with it: the same documents, ten times faster.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(BASE_DIR / "data" / f"{name}.yaml", encoding="utf-8") as f:
        return yaml.load(f, Loader=loader)


def source_hash(paths: Iterable[str]) -> str:
    """sha256 of files of this package, given by relative "/"-separated paths.

    The files are taken in sorted order and each contributes its path, its length and its bytes
    exactly as installed, so the hash is the same on every machine and no edit goes unnoticed, a
    comment included.
    """
    digest = hashlib.sha256()
    for path in sorted(set(paths)):
        data = (BASE_DIR / path).read_bytes()
        digest.update(f"{path}\0{len(data)}\0".encode())
        digest.update(data)
    return digest.hexdigest()


def corpus_languages(config: BaseBuildConfig) -> tuple[str, ...]:
    """The languages of a build's corpus: "en" for reviews, "zh" for Chinese texts, "arith" for
    arithmetic word problems (English, but a corpus of its own)."""
    counts = (("en", config.num_reviews), ("zh", config.num_zh_texts), ("arith", config.num_arith_problems))
    return tuple(lang for lang, count in counts if count)


def generator_hash(languages: Iterable[str]) -> str:
    """The hash of the generators of ``languages`` ("en", "zh", "arith"), and of no other, so that
    a change to the Chinese grammar leaves English models alone."""
    return source_hash(path for lang in languages for path in GENERATOR_FILES[lang])


def corpus_hash(config: BaseBuildConfig) -> str:
    """The hash of the generators that draw ``config``'s corpus."""
    return generator_hash(corpus_languages(config))
