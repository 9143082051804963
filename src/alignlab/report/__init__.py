"""The comparison's outputs: ``metrics.json`` (results.py), plots (plots/) and ``report.html``
(html.py), plus the one-screen summary table printed at the end of ``alignlab compare``."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from alignlab.errors import AlignlabError
from alignlab.report.aggregates import name, summary_text
from alignlab.report.results import METRICS_FILE, write_metrics

__all__ = ["load_metrics", "print_summary", "summarize", "write_metrics", "write_report"]


def load_metrics(run_dir: Path) -> dict:
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        raise AlignlabError(f"'{run_dir}' has no {METRICS_FILE}: is it a finished comparison run?")
    return json.loads(path.read_text(encoding="utf-8"))


def summarize(run_dir: Path) -> Table:
    """The results table: one row per method and setting, means over seeds with 95% intervals."""
    metrics = load_metrics(run_dir)
    table = Table(title=f"{metrics['name']}: held-out results (mean ± 95% CI over seeds; LC: length-controlled)")
    for column in (
        "method",
        "seeds",
        "gold reward",
        "LC gold",
        "win rate",
        "KL",
        "perplexity",
        "distinct-2",
        "self-BLEU",
        "relevance",
        "train s",
        "peak MB",
    ):
        table.add_column(column, justify="left" if column == "method" else "right")

    def plain(summary: dict | None) -> str:
        # Zero (or missing) seconds and megabytes mean "not measured", as for the base policy.
        return f"{summary['mean']:.0f}" if summary and summary.get("mean") else "n/a"

    for row in metrics["aggregates"]:
        table.add_row(
            name(row),
            str(row["n_seeds"]),
            summary_text(row["gold_reward"]),
            summary_text(row.get("lc_gold_reward")),
            summary_text(row["win_rate"], 2),
            summary_text(row["kl"], 2),
            summary_text(row["perplexity"], 1),
            summary_text(row["distinct_2"], 2),
            summary_text(row["self_bleu"], 2),
            summary_text(row["relevance"], 3),
            plain(row.get("pipeline_time_s")),
            plain(row.get("peak_mem_mb")),
        )
    return table


def print_summary(run_dir: Path) -> None:
    """Print the results table to stdout; wide enough to stay readable when it goes to a file."""
    out = Console()
    if not out.is_terminal:
        out = Console(width=170)
    out.print(summarize(run_dir))


def write_report(run_dir: Path) -> Path:
    """(Re)build ``report.html`` from a run's ``metrics.json`` and training histories."""
    from alignlab.report.html import render_report

    return render_report(Path(run_dir), load_metrics(run_dir))
