"""The embedded base models: tiny Qwen3s pretrained by alignlab on generated corpora.

- ``embedded``: English movie reviews, for the default sentiment task;
- ``embedded-zh``: Chinese short texts on the seed notebook's topics, for the ``seed`` task.

Both ship inside the package (``assets/<name>``); ``alignlab base build --name NAME`` rebuilds
one. Where the shipped copy is missing (a source checkout without it), the first use builds it
into the cache directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from alignlab.config import BaseBuildConfig
from alignlab.log import logger

ASSETS_DIR = Path(__file__).parent / "assets"
# Two models rather than one bilingual one: a shared 4096-token vocabulary spends 24% more tokens
# on English (1.52 instead of 1.23 per word), which slows the default run, for no gain in Chinese.
EMBEDDED_MODELS: dict[str, BaseBuildConfig] = {
    "embedded": BaseBuildConfig(),
    "embedded-zh": BaseBuildConfig(num_reviews=0, num_zh_texts=24000, epochs=8),
}


def cache_dir() -> Path:
    return Path(os.environ.get("ALIGNLAB_CACHE", Path.home() / ".cache" / "alignlab"))


def embedded_model_dir(name: str = "embedded") -> Path:
    """Directory of an embedded base model, building it into the cache on first use if needed."""
    shipped = ASSETS_DIR / name
    if (shipped / "config.json").is_file():
        return shipped
    built = cache_dir() / name
    if not (built / "config.json").is_file():
        from alignlab.base.pretrain import build_base_model

        logger.info("the embedded model '%s' is not shipped in this install; building it into %s", name, built)
        build_base_model(EMBEDDED_MODELS[name], built)
    return built
