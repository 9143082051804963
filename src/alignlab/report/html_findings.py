"""The Findings section of ``report.html``: each published claim the comparison checks, the
experiment and test, the effect with its interval over seeds, and reproduced, contradicted or
inconclusive at this power, linked to the panel that shows the evidence."""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from alignlab.report.html_page import Page, note, number_cell, table, table_row, text_cell, wrapped_cell
from alignlab.report.statistics.power import DEFAULT_POWER
from alignlab.report.verdict import p_text


def _side(side: Mapping[str, Any] | None) -> str:
    if not side:
        return ""
    where = ", ".join(f"{k}={v}" for k, v in (side.get("where") or {}).items())
    return side["method"] + (f" ({where})" if where else "")


def experiment_text(page: Page, row: Mapping[str, Any]) -> str:
    """What the finding compares, on what, with what test."""
    sides = {"a": _side(row.get("a")), "b": _side(row.get("b")), "measure": row["measure"]}
    if row["kind"] == "overoptimization":
        return page.t("findings.overopt_test", **sides)
    if row["kind"] == "trend":
        return page.t("findings.trend_test", sweep=row["sweep"], **sides)
    key = "findings.noninferior_test" if row.get("margin") else "findings.difference_test"
    return page.t(key, margin=row.get("margin") or 0.0, **sides)


def _effect_text(row: Mapping[str, Any]) -> str:
    if row.get("effect") is None:
        return "—"
    interval = "" if row.get("ci_low") is None else f" [{row['ci_low']:+.3f}, {row['ci_high']:+.3f}]"
    return f"{row['effect']:+.3f}{interval}"


def _findings_section(page: Page) -> str:
    rows_data = page.metrics.get("findings") or []
    if not rows_data:
        return ""
    rows = []
    for row in rows_data:
        claim = (row.get("claim_zh") if page.lang == "zh" else None) or row["claim"]
        verdict = page.t(f"findings.{row['verdict']}")
        css = {"reproduced": "best", "contradicted": "worse"}.get(row["verdict"], "")
        rows.append(
            table_row(
                [
                    # The claim and the experiment are sentences: they wrap, so the verdict stays in view.
                    f'<td class="wrap" id="finding-{escape(row["id"])}"><strong>{escape(claim)}</strong>'
                    f'<span class="col-sub">{escape(row["source"] or "")}</span></td>',
                    wrapped_cell(experiment_text(page, row)),
                    text_cell(_effect_text(row)),
                    text_cell(str(row.get("n_seeds") or 0)),
                    text_cell("—" if row.get("p_holm") is None else p_text(row["p_holm"]).removeprefix("= ")),
                    number_cell(row.get("detectable_difference"), 3),
                    text_cell("—" if row.get("seeds_needed") is None else f"{row['seeds_needed']:,}"),
                    f'<td class="{css}">{escape(verdict)}</td>',
                    f'<td><a href="#{escape(row["panel"])}">{escape(page.t("findings.evidence"))}</a></td>',
                ]
            )
        )
    headers = page.columns(
        "claim", "experiment", "effect", "seeds", "p_holm", "detectable", "seeds_needed", "finding", "evidence"
    )
    return (
        f'<h2 id="findings">{escape(page.t("findings"))}</h2>'
        + note(page.t("findings.note", power=int(100 * DEFAULT_POWER)))
        + table(headers, rows, numeric_from=2)
    )
