"""The embedded base models: tiny Qwen3s pretrained by alignlab on generated corpora.

- ``embedded``: English movie reviews, for the default sentiment task;
- ``embedded-zh``: Chinese short texts on the seed notebook's topics, for the ``seed`` task;
- ``embedded-arith``: worked solutions of arithmetic word problems, a share of them wrong, for the
  ``arithmetic`` task (its tokenizer spells numbers digit by digit).

All three ship inside the package (``assets/<name>``); ``alignlab base build --name NAME`` rebuilds
one. Loading never trains: an install without the shipped copy is told how to build it.

A model's build report records the hash of the corpus generator it was trained on
(``corpus_data.corpus_hash``). The first use of a model in a process compares it with the hash of
the generator installed now and warns if they differ: the model was then trained on a corpus that
the generator no longer draws, so, for one, the sentiment task's prompts may not be held out of it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from alignlab.config import BaseBuildConfig
from alignlab.errors import ModelLoadError
from alignlab.log import logger

ASSETS_DIR = Path(__file__).parent / "assets"
# Two models rather than one bilingual one: a shared 4096-token vocabulary spends 24% more tokens
# on English (1.52 instead of 1.23 per word), which slows the default run, for no gain in Chinese.
EMBEDDED_MODELS: dict[str, BaseBuildConfig] = {
    "embedded": BaseBuildConfig(),
    "embedded-zh": BaseBuildConfig(num_reviews=0, num_zh_texts=24000, epochs=8),
    "embedded-arith": BaseBuildConfig(
        num_reviews=0, num_arith_problems=30000, vocab_size=512, split_digits=True, epochs=2
    ),
}


def cache_dir() -> Path:
    return Path(os.environ.get("ALIGNLAB_CACHE", Path.home() / ".cache" / "alignlab"))


def embedded_model_dir(name: str = "embedded") -> Path:
    """Directory of a shipped embedded base model."""
    shipped = ASSETS_DIR / name
    if not (shipped / "config.json").is_file():
        raise ModelLoadError(
            f"the embedded model '{name}' is missing from this install ({shipped}); "
            f"build it with `alignlab base build --name {name}`"
        )
    _check_corpus_hash(name, shipped)
    return shipped


# Models whose corpus hash this process has checked: each is checked, and warned about, once.
_CHECKED: set[str] = set()


def _check_corpus_hash(name: str, model_dir: Path) -> None:
    """Warn if the embedded model ``name`` in ``model_dir`` was not built from the corpus generator
    installed now (or its build report lacks the hash); once per process and model."""
    if name in _CHECKED:
        return
    _CHECKED.add(name)
    from alignlab.base.corpus_data import BUILD_REPORT, GENERATOR_FILES, corpus_languages, generator_hash

    report = model_dir / BUILD_REPORT
    built = json.loads(report.read_text(encoding="utf-8")) if report.is_file() else {}
    # The report's corpus statistics are keyed by language: those of the build, whatever its config.
    languages = [lang for lang in built.get("corpus", {}) if lang in GENERATOR_FILES]
    current = generator_hash(languages or corpus_languages(EMBEDDED_MODELS[name]))
    recorded = built.get("corpus_hash")
    if recorded == current:
        return
    logger.warning(
        "the embedded model '%s' was trained on a corpus from another version of its generator "
        "(corpus hash %s in %s, %s now), so what it learned and what alignlab generates may differ; "
        "rebuild it with `alignlab base build --name %s`",
        name,
        recorded[:12] if recorded else "missing",
        report,
        current[:12],
        name,
    )
