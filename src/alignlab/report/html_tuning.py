"""The section of ``report.html`` about the tuning search: each method's declared search space
and its source, every trial's validation result, the setting chosen and how far the search
moved the method."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from alignlab.report.html_page import Page, note, number_cell, table, table_row, text_cell, wrapped_cell
from alignlab.report.plots import setting_text


def _space_text(space: Mapping[str, Mapping[str, Any]]) -> str:
    return "; ".join(f"{key} [{r['low']:.3g}, {r['high']:.3g}] ({r['source']})" for key, r in space.items())


def _setting_text(params: Mapping[str, Any]) -> str:
    return setting_text(",".join(f"{k}={v}" for k, v in params.items())) or "—"


def _tuning_section(page: Page) -> str:
    tuning = page.metrics.get("tuning")
    if not tuning or not tuning.get("methods"):
        return ""
    cap = page.t("tuning.cap", cap=tuning["kl_cap"]) if tuning.get("kl_cap") else ""
    explanation = page.t(
        "tuning.note",
        trials=tuning["trials"],
        sampler=page.t(f"tuning.sampler.{tuning['sampler']}"),
        seeds=", ".join(str(s) for s in tuning["seeds"]),
        prompts=tuning["validation_prompts"],
        cap=cap,
    )
    summary_rows, trial_rows = [], []
    for method, entry in tuning["methods"].items():
        summary_rows.append(
            table_row(
                [
                    f"<td><strong>{escape(method)}</strong></td>",
                    wrapped_cell(_space_text(entry["space"])),
                    text_cell(_setting_text(entry["configured"]), numeric=False),
                    text_cell(_setting_text(entry["chosen"]), numeric=False),
                    f'<td class="num">{entry["moved_by"]:+.3f}</td>',
                ]
            )
        )
        for i, trial in enumerate(entry["trials"]):
            marks = [page.t("tuning.preset")] if i == 0 else []
            marks += [page.t("tuning.chosen")] if trial["params"] == entry["chosen"] else []
            css = ' class="best"' if trial["params"] == entry["chosen"] else ""
            trial_rows.append(
                table_row(
                    [
                        f"<td><strong>{escape(method)}</strong></td>",
                        text_cell(_setting_text(trial["params"]), numeric=False),
                        f'<td class="num"{css}>{trial["gold_reward"]:.3f}</td>',
                        number_cell(trial.get("kl"), 2),
                        text_cell(", ".join(marks), numeric=False),
                    ]
                )
            )
    return (
        f'<h2 id="tuning">{escape(page.t("tuning"))}</h2>'
        + note(explanation)
        + table(page.columns("method", "space", "configured", "chosen", "moved_by"), summary_rows, numeric_from=4)
        + table(page.columns("method", "trial", "validation_gold", "validation_kl", "choice"), trial_rows, 2)
    )
