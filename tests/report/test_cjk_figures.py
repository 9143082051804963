"""Chinese figures: every glyph drawn when a CJK font is installed, English labels (and still a
Chinese page) when none is, and the search that finds the font. Neither Chromium nor a CJK font is
needed: the test that draws Chinese skips without the font (scripts/check_cjk_report.py checks the
whole page in headless Chromium)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from matplotlib import font_manager
from matplotlib.figure import Figure
from synthetic import make_metrics, ppo_history

from alignlab.report import html, i18n
from alignlab.report.html import render_report
from alignlab.report.i18n import tr
from alignlab.report.plots import (
    budget_figure,
    efficiency_figure,
    figure_to_data_uri,
    frontier_figure,
    label_noise_figure,
    overoptimization_figure,
    training_curves_figure,
)
from alignlab.report.results import add_analyses

CHINESE = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")
COLLECTION_FACES = ("Noto Sans CJK JP", "Noto Sans CJK KR", "Noto Sans CJK SC", "Noto Sans CJK TC")


def _figures(lang: str) -> list[Figure]:
    """One of every kind of figure, labelled in ``lang``."""
    metrics = add_analyses(make_metrics())
    aggregates = metrics["aggregates"]
    splits = {"ppo (kl_coef=0.05)": {"time/generation": 3.0, "time/scoring": 1.0, "time/training": 2.0}}
    return [
        frontier_figure(aggregates, metrics["results"], lang),
        overoptimization_figure(list(metrics["overoptimization"].values()), lang),
        label_noise_figure(metrics["label_noise"], 0.1, lang),
        budget_figure(aggregates, lang),
        efficiency_figure(aggregates, splits, lang),
        training_curves_figure([("kl_coef=0.05", ppo_history(0)), ("kl_coef=0.05", ppo_history(1))], lang),
    ]


def _missing_glyphs(figures: Iterable[Figure]) -> list[str]:
    """matplotlib's "Glyph ... missing from font(s)" warnings while rasterising ``figures``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for fig in figures:
            figure_to_data_uri(fig, dpi=30)
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def _labels(fig: Figure) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in (ax.xaxis.label, ax.yaxis.label, ax.title)]


def test_chinese_figures_draw_every_glyph() -> None:
    if i18n.cjk_font() is None:
        pytest.skip("no font with Chinese glyphs installed (e.g. apt-get install fonts-noto-cjk)")
    with i18n.figure_fonts("zh") as lang:
        assert lang == "zh"
        figures = _figures(lang)
        assert _missing_glyphs(figures) == []
    assert _labels(figures[0])[1:] == [tr("fig.gold", "zh"), tr("fig.frontier_title", "zh")]


def test_a_font_without_chinese_glyphs_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the test above looks for is there to find: DejaVu Sans has no Chinese glyphs."""
    monkeypatch.setattr(i18n, "cjk_font", lambda: "DejaVu Sans")
    with i18n.figure_fonts("zh") as lang:
        missing = _missing_glyphs(_figures(lang)[:1])
    assert missing and all("DejaVu Sans" in message for message in missing)


def test_without_a_cjk_font_the_page_stays_chinese_and_figures_fall_back_to_english(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(i18n, "cjk_font", lambda: None)
    figures: list[Figure] = []

    def keep(fig: Figure, dpi: int = 100) -> str:
        figures.append(fig)
        return "data:image/png;base64,"

    monkeypatch.setattr(html, "figure_to_data_uri", keep)
    page = render_report(tmp_path, make_metrics(tmp_path, language="zh")).read_text(encoding="utf-8")
    assert '<html lang="zh-CN">' in page and '<h2 id="verdict">结论</h2>' in page
    labels = [text for fig in figures for text in _labels(fig) if text]
    assert len(figures) == 6 and tr("fig.gold", "en") in labels
    assert not [text for text in labels if CHINESE.search(text)]
    assert _missing_glyphs(figures) == []


class _FontManager:
    """matplotlib's font manager as it is when the fonts were installed after it cached its list:
    no CJK font there, and ``addfont`` of a collection adds every face of it."""

    def __init__(self) -> None:
        self.ttflist = [SimpleNamespace(name="DejaVu Sans")]
        self.added: list[str] = []

    def addfont(self, path: str) -> None:
        self.added.append(path)
        self.ttflist += [SimpleNamespace(name=face) for face in COLLECTION_FACES]


@pytest.fixture
def font_search(monkeypatch: pytest.MonkeyPatch) -> Iterator[_FontManager]:
    fonts = _FontManager()
    monkeypatch.setattr(font_manager, "fontManager", fonts)
    i18n.cjk_font.cache_clear()
    yield fonts
    i18n.cjk_font.cache_clear()


def test_every_font_fontconfig_lists_is_registered_and_the_chinese_face_chosen(
    font_search: _FontManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    # fontconfig may list the bold collection first; registering only it left matplotlib drawing
    # every label in bold, with the collection's first (Japanese) face.
    listing = "/fonts/NotoSansCJK-Bold.ttc: \n/fonts/NotoSansCJK-Regular.ttc: \n"
    monkeypatch.setattr(i18n.subprocess, "run", lambda *args, **kwargs: SimpleNamespace(stdout=listing))
    assert i18n.cjk_font() == "Noto Sans CJK SC"
    assert font_search.added == ["/fonts/NotoSansCJK-Bold.ttc", "/fonts/NotoSansCJK-Regular.ttc"]


def test_no_fontconfig_means_no_cjk_font(font_search: _FontManager, monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(*args: Any, **kwargs: Any) -> None:
        raise FileNotFoundError("fc-list")

    monkeypatch.setattr(i18n.subprocess, "run", missing)
    assert i18n.cjk_font() is None
    assert i18n.figure_language("zh") == "en"
