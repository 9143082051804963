"""report.html from a synthetic comparison: self-contained, one row per aggregate, model output
escaped, Chinese intact, and a frontier figure that plots one point per method and setting."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from alignlab.report.html import REPORT_FILE, human_count, render_report
from alignlab.report.plots import (
    AGGREGATE_GID,
    BASE_GID,
    efficiency_figure,
    frontier_figure,
    training_curves_figure,
)
from alignlab.report.results import SCHEMA_VERSION, aggregate, setting_label

# Built once, on one pytest-xdist worker: the rendered report the tests share.
pytestmark = pytest.mark.xdist_group("report-html")

SCRIPT = "<script>alert(1)</script>"
CHINESE = "今天天气很好，我们去公园散步吧。"
VERDICT = [
    "The highest gold reward at any KL came from dpo (beta=0.5).",
    "Cheapest: dpo, 10 s end to end.",
]
# (method, params, seeds, KL, gold reward): best-of-n has one seed and so no interval on KL.
RUNS = (
    ("base", {}, (0, 1), 0.0, 0.10),
    ("dpo", {"beta": 0.1}, (0, 1), 2.0, 0.40),
    ("dpo", {"beta": 0.5}, (0, 1), 0.8, 0.30),
    ("ppo", {"kl_coef": 0.05}, (0, 1), 1.5, 0.50),
    ("best-of-n", {"n": 4}, (0,), 0.64, 0.25),
)
PROMPTS = ("The movie was", "今天天气很")


def _record(method: str, params: dict, seed: int, kl: float, gold: float) -> dict[str, Any]:
    jitter = 0.01 * seed
    return {
        "method": method,
        "params": params,
        "seed": seed,
        "signal": {"base": None, "ppo": "reward_model", "best-of-n": "reward_model"}.get(method, "preferences"),
        "gold_reward": gold + jitter,
        "gold_reward_se": 0.02,
        "win_rate": 0.5 + gold / 2,
        "kl": kl + jitter if method != "base" else 0.0,
        "perplexity": 20.0 + kl,
        "distinct_1": 0.5,
        "distinct_2": 0.8,
        "self_bleu": 0.1,
        "relevance": None,
        "mean_length": 30.0,
        "eos_fraction": 0.9,
        "wall_time_s": 0.0 if method == "base" else 10.0 + 5 * kl,
        "pipeline_time_s": 0.0 if method == "base" else 12.0 + 5 * kl,
        "eval_time_s": 2.0,
        "tokens_per_s": 0.0 if method == "base" else 800.0,
        "peak_mem_mb": 0.0 if method == "base" else 900.0,
        "models_in_memory": 1 if method in ("base", "dpo") else 3,
        "trainable_params": 0 if method in ("base", "best-of-n") else 2_400_000,
        "run_dir": f"runs/{method}/{setting_label(params)}/seed-{seed}",
    }


SAMPLE_GOLD = -0.3141


def _completion(method: str, prompt_index: int) -> str:
    if method == "dpo" and prompt_index == 0:
        return f" was fine {SCRIPT}"
    if method == "ppo":
        return CHINESE
    return f" completion {prompt_index} of {method}"


def _history(method: str, seed: int) -> dict[str, list[dict[str, float]]]:
    steps = range(1, 6)
    if method == "dpo":
        train = [
            {"step": s, "train/loss": 0.69 - 0.05 * s, "train/rewards/margin": 0.1 * s + seed, "train/lr": 1e-4}
            for s in steps
        ]
        return {"train": train, "eval": [{"step": 5, "eval/loss": 0.5, "eval/rewards/margin": 0.4}]}
    train = [
        {
            "step": s,
            "reward/score": 0.1 * s,
            "objective/kl": 0.2 * s,
            "loss/value": 1 / s,
            "time/generation": 2.0 * s,
            "time/scoring": 0.5 * s,
            "time/training": 1.0 * s,
        }
        for s in steps
    ]
    return {"train": train}


def make_run(root: Path) -> dict[str, Any]:
    """A finished comparison on disk: metrics plus histories for dpo and ppo seed 0 only (ppo seed 1
    lost its history; base and best-of-n never have one)."""
    results = [_record(m, p, seed, kl, gold) for m, p, seeds, kl, gold in RUNS for seed in seeds]
    for record in results:
        if record["method"] == "dpo" or (record["method"] == "ppo" and record["seed"] == 0):
            path = root / record["run_dir"] / "history.json"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps(_history(record["method"], record["seed"])), encoding="utf-8")
    return {
        "schema_version": SCHEMA_VERSION,
        "name": "synthetic",
        "created": "2026-01-02T03:04:05+00:00",
        "total_time_s": None,
        "environment": {"python": "3.11", "device": "cpu"},
        "config": {"model": {"name_or_path": "tiny"}, "seeds": [0, 1]},
        "results": results,
        "aggregates": aggregate(results),
        "examples": {
            r["run_dir"]: [
                {"prompt": p, "completion": _completion(r["method"], i), "gold": SAMPLE_GOLD if i == 0 else None}
                for i, p in enumerate(PROMPTS)
            ]
            for r in results
        },
        "stages": {"preferences": {"wall_time_s": 3.0, "pairs": 128}},
        "verdict": VERDICT,
    }


class _Tables(HTMLParser):
    """Every <table> of a page as rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    root = tmp_path_factory.mktemp("run")
    metrics = make_run(root)
    path = render_report(root, metrics)
    assert path == root / REPORT_FILE
    return root, metrics, path.read_text(encoding="utf-8")


def test_report_is_self_contained_with_an_embedded_frontier(run: tuple[Path, dict, str]) -> None:
    root, _, page = run
    assert '<meta charset="utf-8">' in page
    assert '<img src="data:image/png;base64,' in page
    assert "http://" not in page and "https://" not in page
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []


def test_one_results_row_per_aggregate(run: tuple[Path, dict, str]) -> None:
    _, metrics, page = run
    parser = _Tables()
    parser.feed(page)
    results_table = parser.tables[0]
    assert results_table[0][:4] == ["method", "setting", "seeds", "gold reward"]
    assert [row[0] for row in results_table[1:]] == [a["method"] for a in metrics["aggregates"]]
    assert [row[1] for row in results_table[1:]] == ["—", "β=0.1", "β=0.5", "kl_coef=0.05", "n=4"]
    ppo = results_table[4]
    assert ppo[3].startswith("0.505 ± ")
    assert "best" in page.split("kl_coef=0.05")[1].split("</tr>")[0]


def test_model_output_is_escaped_and_chinese_survives(run: tuple[Path, dict, str]) -> None:
    _, _, page = run
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page
    assert CHINESE in page and "今天天气很" in page


def test_sample_cards_show_the_sample_gold_beside_the_mean(run: tuple[Path, dict, str]) -> None:
    _, _, page = run
    assert "gold -0.314 (mean " in page  # the first prompt's samples carry their own gold reward
    assert "(mean " not in page.split("prompt 2")[1]  # older records without it show the mean only


def test_verdict_and_relevance_note(run: tuple[Path, dict, str]) -> None:
    _, _, page = run
    for sentence in VERDICT:
        assert sentence in page
    assert page.count("alignlab[quality]") == 2  # the extra's name and its pip command, in one note
    assert "tensorboard --logdir" in page


def test_relevance_note_from_metrics_replaces_the_default(tmp_path: Path) -> None:
    metrics = make_run(tmp_path)
    metrics["relevance_note"] = "Relevance skipped: no embedder <offline>."
    page = render_report(tmp_path, metrics).read_text(encoding="utf-8")
    assert "Relevance skipped: no embedder &lt;offline&gt;." in page
    assert "alignlab[quality]" not in page


def test_frontier_plots_one_point_per_trained_aggregate(tmp_path: Path) -> None:
    metrics = make_run(tmp_path)
    fig = frontier_figure(metrics["aggregates"], metrics["results"])
    (ax,) = fig.axes
    assert "KL" in ax.get_xlabel() and "nats" in ax.get_xlabel()
    assert ax.get_ylabel() == "gold reward"
    points = sum(len(line.get_xdata()) for line in ax.lines if line.get_gid() == AGGREGATE_GID)
    assert points == len(metrics["aggregates"]) - 1
    (base,) = [line for line in ax.lines if line.get_gid() == BASE_GID]
    assert list(base.get_ydata()) == pytest.approx([0.105])
    assert {t.get_text() for t in ax.texts} == {"β=0.1", "β=0.5", "kl_coef=0.05", "n=4"}


def test_training_curves_pick_the_family_metrics() -> None:
    fig = training_curves_figure([("beta=0.1", _history("dpo", 0)), ("beta=0.1", _history("dpo", 1))])
    titles = [ax.get_title() for ax in fig.axes if ax.get_visible()]
    # train/lr is constant and so left out; eval points join their training panel.
    assert titles == ["loss  (○ held-out)", "implicit reward margin  (○ held-out)"]
    # A flat reward is news (nothing was learned), a flat KL coefficient is not.
    flat = [{"step": s, "reward/gold": 0.0, "objective/kl_coef": 0.05} for s in (1, 2)]
    fig = training_curves_figure([("default", {"train": flat})])
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["gold reward of samples"]
    assert training_curves_figure([("default", {"train": []})]) is None


def test_efficiency_figure_leaves_out_free_runs(tmp_path: Path) -> None:
    metrics = make_run(tmp_path)
    fig = efficiency_figure(metrics["aggregates"], {"ppo (kl_coef=0.05)": {"time/generation": 1.0}})
    time_axes = fig.axes[0]
    assert len(fig.axes) == 3
    assert len(time_axes.patches) == len(metrics["aggregates"]) - 1


def test_human_count() -> None:
    assert [human_count(n) for n in (512, 2_400_000, 7e9, None)] == ["512", "2.4M", "7.0B", "n/a"]
