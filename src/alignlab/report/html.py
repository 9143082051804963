"""``report.html``: one self-contained page (inline CSS, figures as data URIs, no scripts) that
answers the comparison's questions from ``metrics.json`` and the runs' ``history.json`` files, in
English or Chinese (``i18n.report_language``).

Every section degrades on its own: a metrics.json without the newer fields (per-sample rewards,
checkpoints, proxy scores, several seeds) gives a note or no panel, and a section that still fails
is replaced by a note rather than stopping the report. Everything that comes from a run (names,
settings, prompts, completions) passes through ``escape``: completions are model output and may
contain markup.

The page's frame lives here (the document, its CSS, the header, verdict and footer, and the order
of the sections); the sections are in html_results.py, html_analyses.py and html_runs.py, built
from the parts in html_page.py.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from html import escape
from pathlib import Path

from alignlab.layout import REPORT_FILE
from alignlab.log import logger
from alignlab.report.html_analyses import (
    _data_size_section,
    _label_noise_section,
    _overoptimization_section,
    _paired_section,
    _stability_section,
)
from alignlab.report.html_findings import _findings_section
from alignlab.report.html_page import Page, human_count, human_duration
from alignlab.report.html_results import _frontier_section, _results_section
from alignlab.report.html_runs import _budget_section, _curves_section, _efficiency_section, _examples_section
from alignlab.report.html_tuning import _tuning_section
from alignlab.report.html_verifiable import _verifiable_section
from alignlab.report.i18n import figure_fonts, report_language, tr
from alignlab.report.plots import figure_to_data_uri
from alignlab.report.results import add_analyses, load_histories
from alignlab.report.verdict import verdict

__all__ = ["REPORT_FILE", "human_count", "human_duration", "render_report"]

# Inlined into the page: a report is one self-contained file.
STYLE = (Path(__file__).parent / "report.css").read_text(encoding="utf-8")


def render_report(run_dir: Path, metrics: dict) -> Path:
    """Write ``run_dir/report.html`` (atomically: a temporary file, then a rename) and return its path.
    The statistics ``metrics`` lacks (an older metrics.json) are computed for the page, not saved."""
    run_dir = Path(run_dir)
    histories = load_histories(run_dir, metrics.get("results", []))
    metrics = add_analyses(dict(metrics), histories)
    lang = report_language(metrics)
    with figure_fonts(lang) as fig_lang:
        # This module's figure_to_data_uri, looked up on every render: tests swap in a fast stand-in.
        page = Page(metrics, histories, lang, fig_lang, figure_to_data_uri)
        # In page order; the names are looked up on every render, so a test can swap a section.
        sections = [
            _safe(section, page)
            for section in (
                _header,
                _verdict,
                _findings_section,
                _frontier_section,
                _results_section,
                _verifiable_section,
                _tuning_section,
                _paired_section,
                _overoptimization_section,
                _label_noise_section,
                _data_size_section,
                _budget_section,
                _stability_section,
                _efficiency_section,
                _curves_section,
                _examples_section,
            )
        ]
    sections.append(_footer(run_dir, lang))
    html_lang = "zh-CN" if lang == "zh" else "en"
    title = tr("title", lang, name=str(metrics.get("name", "")))
    document = (
        f'<!DOCTYPE html>\n<html lang="{html_lang}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n"
        f"<style>{STYLE}</style>\n</head>\n<body>\n<main>\n" + "\n".join(sections) + "\n</main>\n</body>\n</html>\n"
    )
    path = run_dir / REPORT_FILE
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(document, encoding="utf-8")
    os.replace(tmp, path)
    logger.info("Report written to %s (%.0f kB)", path, path.stat().st_size / 1024)
    return path


def _safe(section: Callable[[Page], str], page: Page) -> str:
    """The section's HTML, or a note when it fails: one odd field must not cost the whole report."""
    try:
        return section(page)
    except Exception as error:  # noqa: BLE001 - any failure of one panel becomes a note
        logger.warning("Report section %s failed: %r", section.__name__, error)
        return f'<p class="note">{escape(page.t("section.failed", error=type(error).__name__))}</p>'


def _total_time(page: Page) -> str:
    """The comparison's wall time, with the number of sittings when it was resumed."""
    text = human_duration(page.metrics.get("total_time_s"), page.lang)
    sittings = page.metrics.get("sittings") or 1
    return text if sittings == 1 else page.t("meta.sittings", time=text, n=sittings)


def _header(page: Page) -> str:
    metrics = page.metrics
    # Words are translated; software names (python, torch, transformers) are not.
    environment_labels = {"device": page.t("meta.device"), "threads": page.t("meta.threads")}
    config = metrics.get("config") or {}
    items = {
        page.t("meta.created"): _format_created(metrics.get("created")),
        page.t("meta.total_time"): _total_time(page),
        page.t("meta.model"): (config.get("model") or {}).get("name_or_path"),
        page.t("meta.task"): (config.get("task") or {}).get("name"),
        page.t("meta.seeds"): ", ".join(str(s) for s in config.get("seeds", [])) or None,
        **{environment_labels.get(key, key): value for key, value in (metrics.get("environment") or {}).items()},
    }
    meta = "".join(
        f"<div><dt>{escape(key)}</dt><dd>{escape(str(value))}</dd></div>"
        for key, value in items.items()
        if value is not None
    )
    title = page.t("title", name=str(metrics.get("name") or page.t("unnamed")))
    return f'<h1>{escape(title)}</h1><p class="subtitle">{escape(page.t("subtitle"))}</p><dl class="meta">{meta}</dl>'


def _format_created(created: str | None) -> str | None:
    """'2026-11-24T23:45:16+00:00' -> '2026-11-24 23:45 UTC'; anything unparsable as is."""
    try:
        stamp = datetime.fromisoformat(created)
    except (TypeError, ValueError):
        return created
    zone = "" if stamp.utcoffset() is None else (" UTC" if not stamp.utcoffset() else f" {stamp:%z}")
    return f"{stamp:%Y-%m-%d %H:%M}{zone}"


def _verdict(page: Page) -> str:
    """The recorded sentences when they are in the page's language, else written afresh from the
    aggregates and statistics."""
    stored = page.metrics.get("verdict")
    if stored and page.metrics.get("verdict_language", "en") == page.lang:
        sentences = stored
    elif page.aggregates:
        sentences = verdict(page.aggregates, page.metrics, page.lang)
    else:
        sentences = []
    items = "".join(f"<li>{escape(s)}</li>" for s in sentences) or f"<li>{escape(page.t('verdict.none'))}</li>"
    return f'<section class="verdict"><h2 id="verdict">{escape(page.t("verdict"))}</h2><ul>{items}</ul></section>'


def _footer(run_dir: Path, lang: str) -> str:
    return f"<footer>{tr('footer', lang, logdir=escape(str(run_dir)))}</footer>"
