"""The report's words in English and Chinese (one table, ``strings.yaml``, no second template),
the choice of language, and a CJK font for the figures.

``tr(key, lang, **fields)`` formats ``STRINGS[key][lang]``. Figures are drawn in Chinese only
when matplotlib has a font with Chinese glyphs (:func:`cjk_font`); without one they keep their
English labels rather than draw empty boxes, while the page around them stays Chinese.
"""

from __future__ import annotations

import contextlib
import functools
import subprocess
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any

import yaml

from alignlab.log import logger

LANGUAGES = ("en", "zh")
# Task names whose prompts are Chinese: "auto" renders their report in Chinese.
CHINESE_TASKS = ("seed",)
# Families with Chinese glyphs, in order of preference, as matplotlib names them.
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Droid Sans Fallback",
    "PingFang SC",
    "Hiragino Sans GB",
    "Heiti SC",
    "STHeiti",
    "Microsoft YaHei",
    "SimHei",
    "Noto Serif CJK SC",
    "AR PL UMing CN",
    "AR PL UKai CN",
)

# key -> {"en": ..., "zh": ...}: every word of the page and its figures, kept as data.
STRINGS: dict[str, dict[str, str]] = yaml.safe_load(
    resources.files("alignlab.report").joinpath("strings.yaml").read_text(encoding="utf-8")
)


def tr(key: str, lang: str = "en", **fields: Any) -> str:
    """``STRINGS[key]`` in ``lang`` (English where it has no entry), formatted with ``fields``."""
    entry = STRINGS[key]
    text = entry.get(lang) or entry["en"]
    return text.format(**fields) if fields else text


def join(items: list[str], lang: str = "en") -> str:
    return tr("v.list_sep", lang).join(items)


def report_language(metrics: Mapping[str, Any]) -> str:
    """'en' or 'zh': config["report"]["language"], where "auto" (or no setting) means Chinese for a
    Chinese task (config["task"]["name"] == "seed", or metrics["language"] == "zh")."""
    config = metrics.get("config") or {}
    language = (config.get("report") or {}).get("language") or "auto"
    if language in LANGUAGES:
        return language
    task = (config.get("task") or {}).get("name")
    return "zh" if metrics.get("language") == "zh" or task in CHINESE_TASKS else "en"


@functools.lru_cache(maxsize=1)
def cjk_font() -> str | None:
    """The family name of an installed font with Chinese glyphs that matplotlib can use, or None.

    Looks among matplotlib's fonts first. Fonts installed after matplotlib cached its font list are
    missing there, so it then registers every font file fontconfig lists for Chinese
    (``fc-list :lang=zh``) and looks again: all of them, not the first listed, so that matplotlib
    gets the regular weight as well as the bold and, from a collection such as Noto Sans CJK,
    the Simplified Chinese face rather than the collection's first (Japanese) one."""
    try:
        from matplotlib import font_manager

        family = _cjk_family({f.name for f in font_manager.fontManager.ttflist})
        if family is not None:
            return family
        for path in _fontconfig_chinese_files():
            try:
                font_manager.fontManager.addfont(path)
            except Exception as error:  # noqa: BLE001 - an unreadable font is skipped, never fatal
                logger.debug("Skipping font %s: %s", path, error)
        return _cjk_family({f.name for f in font_manager.fontManager.ttflist})
    except Exception as error:  # noqa: BLE001 - the report must come out without a CJK font
        logger.debug("No CJK font: %s", error)
    return None


def _cjk_family(names: set[str]) -> str | None:
    """The preferred family among ``names`` that has Chinese glyphs, by name."""
    for family in CJK_FAMILIES:
        if family in names:
            return family
    return next((name for name in sorted(names) if "CJK" in name or "Han Sans" in name or "Hei" in name), None)


def _fontconfig_chinese_files() -> list[str]:
    """The font files fontconfig lists as covering Chinese; [] without fontconfig."""
    try:
        listing = subprocess.run(
            ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    paths = {line.split(":")[0].strip() for line in listing.splitlines()}
    return sorted(path for path in paths if path.lower().endswith((".ttf", ".otf", ".ttc")))


def figure_language(lang: str) -> str:
    """The language figures can be drawn in: ``lang``, unless it is Chinese and no font has the glyphs."""
    return lang if lang != "zh" or cjk_font() else "en"


@contextlib.contextmanager
def figure_fonts(lang: str) -> Iterator[str]:
    """Within it, matplotlib text falls back to a CJK font when ``lang`` is Chinese and one is
    installed; yields the language the figures should use (:func:`figure_language`)."""
    import matplotlib

    font = cjk_font() if lang == "zh" else None
    if font is None:
        yield figure_language(lang)
        return
    with matplotlib.rc_context({"font.family": [font, "DejaVu Sans"], "axes.unicode_minus": False}):
        yield "zh"
