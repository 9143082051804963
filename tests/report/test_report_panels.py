"""The report's new panels on synthetic metrics: English and Chinese, with every new field and
without them (an older metrics.json, one seed, no checkpoints or proxy scores, odd values)."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
from synthetic import make_metrics
from test_html import make_run

from alignlab.report import html, i18n, summarize
from alignlab.report.html import render_report
from alignlab.report.i18n import STRINGS, report_language, tr
from alignlab.report.plots import (
    CHECKPOINT_GID,
    FIT_GID,
    PEAK_GID,
    budget_figure,
    frontier_figure,
    label_noise_figure,
    overoptimization_figure,
)
from alignlab.report.results import add_analyses, aggregate, verdict

# Built once, on one pytest-xdist worker: the rendered English report the tests share.
pytestmark = pytest.mark.xdist_group("report-panels")

EN_PANELS = (
    "Paired comparison with dpo (β=0.1)",
    "Between training runs (seeds)",
    "Evaluation noise of fixed checkpoints (prompts)",
    "Reward-model over-optimisation",
    "Robustness to label noise",
    "Reward per budget",
    "Stability",
    "Checkpoints along training",
    "LC gold reward",
)
ZH_PANELS = (
    "与 dpo (β=0.1) 的配对比较",
    "训练运行之间（种子）",
    "固定检查点的评估噪声（提示）",
    "奖励模型过度优化",
    "对标签噪声的稳健性",
    "单位预算的奖励",
    "稳定性",
    "训练过程中的检查点",
    "长度控制金标准奖励",
)


@pytest.fixture
def fast_figures(monkeypatch: pytest.MonkeyPatch) -> None:
    """Figures are built but not rasterised (most of a render's time): for tests of the page."""
    monkeypatch.setattr(html, "figure_to_data_uri", lambda fig, dpi=100: "data:image/png;base64,")


def _render(root: Path, metrics: dict[str, Any]) -> str:
    return render_report(root, metrics).read_text(encoding="utf-8")


def _images(page: str) -> int:
    return page.count('<img src="data:image/png;base64,')


@pytest.fixture(scope="module")
def english(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], str]:
    root = tmp_path_factory.mktemp("full-en")
    metrics = make_metrics(root, language="en")
    return metrics, _render(root, metrics)


def test_english_report_has_every_panel(english: tuple[dict, str]) -> None:
    _, page = english
    for heading in EN_PANELS:
        assert heading in page, heading
    # Frontier, over-optimisation, label noise, budgets, cost and PPO's training curves.
    assert _images(page) == 6
    assert '<html lang="en">' in page
    assert "d(α − β log d)" in page and "d(α − β d)" in page
    assert "2/10 (20%)" in page  # PPO's KL jumps, pooled over its two seeds
    assert "Reward-model over-optimisation, measured: ppo (kl_coef=0.05): the gold reward fell 0.115" in page
    assert "after its peak at KL 1.50 (one-sided p &lt; 0.001 over 2 seeds)" in page
    assert "Against dpo (beta=0.1) (baseline picked as the best on these same data, which favours it)" in page
    assert "section could not" not in page and "could not be drawn" not in page


def test_results_table_puts_the_length_controlled_reward_beside_gold(english: tuple[dict, str]) -> None:
    _, page = english
    head = re.search(r"<thead><tr>(.*?)</tr></thead>", page).group(1)
    headers = re.findall(r"<th[^>]*>(.*?)</th>", head)
    assert headers[3:5] == ["gold reward", "LC gold reward"]
    assert "proxy score" in headers
    assert "per token) and each run is read at the base policy" in page


def test_render_does_not_change_the_callers_metrics(tmp_path: Path, fast_figures: None) -> None:
    metrics = make_metrics(tmp_path)
    before = json.dumps(metrics, sort_keys=True)
    render_report(tmp_path, metrics)
    assert json.dumps(metrics, sort_keys=True) == before


@pytest.mark.parametrize(
    ("how", "rasterise"),
    [
        ({"language": "zh"}, True),
        ({"language": "auto", "task": "seed"}, False),
    ],
)
def test_chinese_report(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: dict[str, str], rasterise: bool) -> None:
    if not rasterise:
        monkeypatch.setattr(html, "figure_to_data_uri", lambda fig, dpi=100: "data:image/png;base64,")
    metrics = make_metrics(tmp_path, **how)
    page = _render(tmp_path, metrics)
    assert '<html lang="zh-CN">' in page
    for heading in ZH_PANELS:
        assert heading in page, heading
    for english_text in ("Verdict", "Results", "Stability", "Reward-model over-optimisation", "Sample completions"):
        assert f">{english_text}<" not in page
    assert '<h2 id="verdict">结论</h2>' in page and "<h2 id='frontier'>奖励–KL 前沿</h2>" in page
    assert "奖励模型过度优化（实测）：ppo (kl_coef=0.05)" in page  # the verdict, written in Chinese
    assert "与 dpo (beta=0.1) 相比（基线是在这些相同数据上选出的最佳设置" in page
    assert "总用时</dt><dd>1 分 40 秒" in page
    assert _images(page) == 6


def test_language_choice() -> None:
    assert report_language({}) == "en"
    assert report_language({"config": {"task": {"name": "seed"}}}) == "zh"
    assert report_language({"language": "zh", "config": {"report": {"language": "auto"}}}) == "zh"
    assert report_language({"config": {"task": {"name": "seed"}, "report": {"language": "en"}}}) == "en"


def test_every_string_has_both_languages_and_formats_alike() -> None:
    for key, entry in STRINGS.items():
        assert set(entry) == {"en", "zh"}, key
        fields = [set(re.findall(r"(?<!\{)\{(\w+)[^{}]*\}(?!\})", entry[lang])) for lang in ("en", "zh")]
        if not key.startswith("fig."):  # mathtext braces are not fields
            assert fields[0] == fields[1], key


def test_chinese_verdict_and_stored_verdict_language(tmp_path: Path, fast_figures: None) -> None:
    metrics = add_analyses(make_metrics(tmp_path))
    english = verdict(metrics["aggregates"], metrics, "en")
    chinese = verdict(metrics["aggregates"], metrics, "zh")
    assert len(english) == len(chinese)
    assert all(re.search(r"[\u4e00-\u9fff]", line) for line in chinese)
    # A stored English verdict is rewritten for a Chinese page.
    metrics.update(verdict=english, verdict_language="en")
    metrics["config"]["report"]["language"] = "zh"
    page = _render(tmp_path, metrics)
    assert chinese[0] in page and english[0] not in page


def test_figures_without_a_cjk_font_fall_back_to_english(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(i18n, "cjk_font", lambda: None)
    assert i18n.figure_language("zh") == "en"
    with i18n.figure_fonts("zh") as lang:
        assert lang == "en"
    monkeypatch.setattr(i18n, "cjk_font", lambda: "DejaVu Sans")  # a stand-in: only the choice is tested
    assert i18n.figure_language("zh") == "zh"
    metrics = make_metrics()
    with warnings.catch_warnings(), i18n.figure_fonts("zh") as lang:
        warnings.simplefilter("ignore")  # DejaVu has no Chinese glyphs
        fig = frontier_figure(metrics["aggregates"], metrics["results"], lang)
        assert "DejaVu Sans" in fig.axes[0].yaxis.label.get_fontfamily()
    assert fig.axes[0].get_ylabel() == tr("fig.gold", "zh")


def test_cjk_font_lookup_never_raises() -> None:
    font = i18n.cjk_font()
    assert font is None or isinstance(font, str)


def test_new_figures_draw_their_parts(tmp_path: Path) -> None:
    metrics = add_analyses(make_metrics(tmp_path))
    fig = frontier_figure(metrics["aggregates"], metrics["results"])
    paths = [line for line in fig.axes[0].lines if line.get_gid() == CHECKPOINT_GID]
    assert len(paths) == 4  # three dpo settings and ppo; best-of-n and ipo have no checkpoints
    ppo = max(paths, key=lambda line: max(line.get_xdata()))
    assert list(ppo.get_xdata()) == pytest.approx([0.5, 1.5, 3.0, 5.0])  # checkpoints, then the final point

    fig = overoptimization_figure(list(metrics["overoptimization"].values()))
    lines = [line for ax in fig.axes for line in ax.lines]
    assert sum(line.get_gid() == FIT_GID for line in lines) == 4  # gold and proxy, two fits
    assert sum(line.get_gid() == PEAK_GID for line in lines) == 2

    fig = label_noise_figure(metrics["label_noise"], 0.1)
    assert fig.axes[0].get_xlabel().startswith("label noise")

    fig = budget_figure(metrics["aggregates"])
    assert [ax.get_xlabel() for ax in fig.axes] == ["pipeline time (s)", "gold-reward queries"]
    assert budget_figure([a for a in metrics["aggregates"] if a["method"] == "base"]) is None
    assert overoptimization_figure([]) is None and label_noise_figure([]) is None


# --------------------------------------------------------------------------------------------
# Degrading
# --------------------------------------------------------------------------------------------


def test_old_metrics_give_notes_not_panels(tmp_path: Path, fast_figures: None) -> None:
    page = _render(tmp_path, make_run(tmp_path))
    # Per-seed gold rewards are enough to compare runs; the prompt-level view needs samples.
    assert "Between training runs (seeds)" in page
    assert "No view within fixed checkpoints" in page
    assert "No over-optimisation fit" in page  # ppo and best-of-n ran, without proxy scores
    assert "Robustness to label noise" not in page and "Checkpoints along training" not in page
    assert "LC gold reward" not in page
    assert "Stability" in page and "could not be drawn" not in page


def test_one_seed_without_checkpoints_or_proxies(tmp_path: Path, fast_figures: None) -> None:
    metrics = make_metrics(tmp_path)
    results = [
        {k: v for k, v in r.items() if k not in ("checkpoints", "proxy_score")}
        for r in metrics["results"]
        if r["seed"] == 0
    ]
    metrics.update(results=results, aggregates=aggregate(results))
    page = _render(tmp_path, metrics)
    assert "Checkpoints along training" not in page
    assert "No over-optimisation fit" in page
    assert "Paired comparison with dpo (β=0.1)" in page  # one seed still pairs prompts
    assert "With one seed per method there is no test between training runs" in page
    assert "one seed: no test" in page and "Evaluation noise of fixed checkpoints" in page
    assert "Stability across seeds needs at least two seeds" in page
    assert "could not be drawn" not in page


def test_odd_values_never_stop_the_report(tmp_path: Path, fast_figures: None) -> None:
    metrics = make_metrics(tmp_path)
    results = metrics["results"]
    results[1]["checkpoints"] = "oops"
    results[2]["sample_gold"] = results[2]["sample_gold"][:-1]
    results[3]["proxy_score"] = "n/a"
    results[4]["kl"] = None
    metrics["config"]["report"] = {"language": "klingon", "bootstrap_resamples": "many"}
    metrics["stability"] = None
    page = _render(tmp_path, metrics)
    assert "<h2 id='results'>Results</h2>" in page
    minimal = _render(tmp_path, {"name": "empty"})
    assert "Not enough results" in minimal or "No verdict" in minimal


def test_summary_table_shows_the_length_controlled_reward(tmp_path: Path) -> None:
    metrics = add_analyses(make_metrics(tmp_path))
    (tmp_path / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
    table = summarize(tmp_path)
    assert [c.header for c in table.columns][2:4] == ["gold reward", "LC gold"]


def test_a_failing_section_becomes_a_note(tmp_path: Path, fast_figures: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(page: Any) -> str:
        raise KeyError("gold_reward")

    monkeypatch.setattr(html, "_budget_section", broken)
    page = _render(tmp_path, make_metrics(tmp_path))
    assert "This panel could not be drawn from this metrics.json (KeyError)." in page
    assert "Paired comparison with dpo (β=0.1)" in page


def test_write_metrics_stores_the_statistics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from alignlab.config import ExperimentConfig
    from alignlab.report import results

    monkeypatch.setattr(results, "environment", lambda: {"python": "3"})
    records = make_metrics(tmp_path)["results"]
    written = results.write_metrics(tmp_path, ExperimentConfig(), records, {}, 1.0)
    stored = json.loads((tmp_path / "metrics.json").read_text(encoding="utf-8"))
    assert stored["schema_version"] == 3 and stored["verdict_language"] == "en"
    for key in ("length_control", "paired_tests", "overoptimization", "label_noise", "stability"):
        assert stored[key] == json.loads(json.dumps(written[key])), key
    paired = stored["paired_tests"]
    assert paired["baseline"]["chosen_by"] == "reported_data"
    assert paired["prompt_level"]["resamples"] == 2000 and paired["prompt_level"]["samples_per_prompt"] == 2
    assert paired["prompt_level"]["scope"] == "evaluation noise of fixed checkpoints"
    seed_row_keys = {"reference", "n_seeds", "difference", "ci_low", "ci_high", "p_value", "p_holm", "outcome"}
    assert all(
        seed_row_keys | {"detectable_difference", "seeds_needed"} <= set(r) for r in paired["seed_level"]["rows"]
    )
    ppo = stored["overoptimization"]["ppo (kl_coef=0.05)"]
    assert {"form", "alpha", "beta", "gold_peak_d", "proxy_alpha", "proxy_beta", "overoptimized"} <= set(ppo)
    assert {"measured_peak_kl", "decline", "decline_p", "proxy_rise", "evidence"} <= set(ppo)
    assert all("lc_gold_reward" in r for r in stored["results"])
    assert all("lc_gold_reward" in a for a in stored["aggregates"])
    assert stored["stability"][0]["kl_jump_fraction"] is None  # dpo: no history on disk
    assert any(line.startswith("Reward-model over-optimisation") for line in stored["verdict"])
    # A baseline fixed by the caller (e.g. chosen on validation prompts) is used and labelled so.
    given = results.write_metrics(tmp_path, ExperimentConfig(), records, {}, 1.0, baseline="ipo")
    assert given["paired_tests"]["baseline"] == {
        "method": "ipo",
        "setting": "default",
        "name": "ipo",
        "chosen_by": "given",
    }
    assert any(line.startswith("Against ipo (baseline fixed beforehand)") for line in given["verdict"])


def test_statistics_of_an_older_schema_are_recomputed(tmp_path: Path, fast_figures: None) -> None:
    metrics = make_metrics(tmp_path)
    metrics.update(
        schema_version=2,
        paired_tests={"baseline": {"name": "dpo"}, "rows": [{"significant": True}]},
        overoptimization={},
        verdict=["Against dpo on the same prompts (paired prompt-level bootstrap): better: everything."],
        verdict_language="en",
    )
    refreshed = add_analyses(dict(metrics))
    assert "seed_level" in refreshed["paired_tests"] and "ppo (kl_coef=0.05)" in refreshed["overoptimization"]
    assert "verdict" not in refreshed
    page = _render(tmp_path, metrics)
    assert "better: everything" not in page and "Between training runs (seeds)" in page


def test_every_method_alignlab_has_gets_a_colour_of_its_own() -> None:
    from alignlab.config.methods import COMPARED
    from alignlab.report.plots import method_styles

    styles = method_styles(["base", *COMPARED])
    others = [style for method, style in styles.items() if method != "base"]
    assert len({colour for colour, _ in others}) == len(others)
    assert styles["base"] not in others


def test_findings_rows_link_to_their_evidence_in_both_languages(tmp_path: Path, fast_figures: None) -> None:
    metrics = make_metrics(tmp_path)
    metrics["config"]["report"]["findings"] = [
        {
            "id": "dpo-beats-ipo",
            "claim": "DPO reaches a higher gold reward than IPO",
            "claim_zh": "DPO 的金标准奖励高于 IPO",
            "source": "synthetic",
            "kind": "difference",
            "measure": "gold_reward",
            "a": {"method": "dpo", "where": {"beta": 0.1}},
            "b": {"method": "ipo", "where": {}},
            "margin": 0.0,
            "sweep": None,
            "panel": "results",
        }
    ]
    metrics.pop("findings", None)
    page = _render(tmp_path, metrics)
    assert '<h2 id="findings">Findings</h2>' in page and 'id="finding-dpo-beats-ipo"' in page
    assert '<a href="#results">panel</a>' in page and "<h2 id='results'>" in page
    metrics["config"]["report"]["language"] = "zh"
    page = _render(tmp_path, metrics)
    assert "文献结论的复现" in page and "DPO 的金标准奖励高于 IPO" in page
