"""The Findings' tests on synthetic runs whose answer is known: a claim the runs bear out is
reproduced, one they reverse is contradicted, one inside the seeds' noise is inconclusive with
what the design could detect; trends over a sweep, non-inferiority, gold at matched KL, late
training metrics and the over-optimisation flag; Holm over the findings."""

from __future__ import annotations

import pytest
from scipy import stats

from alignlab.report.statistics import evaluate_findings
from alignlab.report.statistics.findings import gold_at, kl_path, side_records
from alignlab.report.statistics.power import detectable_difference

SEEDS = (0, 1, 2, 3, 4)


def record(method: str, seed: int, gold: float, **extra) -> dict:
    return {"method": method, "params": extra.pop("params", {}), "seed": seed, "gold_reward": gold, **extra}


def finding(id_: str, a: str, b: str | None, **extra) -> dict:
    return {
        "id": id_,
        "claim": f"{a} beats {b}",
        "source": "synthetic",
        "kind": extra.pop("kind", "difference"),
        "measure": extra.pop("measure", "gold_reward"),
        "a": {"method": a, "where": extra.pop("where_a", {})},
        "b": None if b is None else {"method": b, "where": extra.pop("where_b", {})},
        "panel": "results",
        **extra,
    }


def test_reproduced_contradicted_and_underpowered() -> None:
    # a beats b by 0.2 in every seed (+- 0.01); c loses to b by 0.2; d ties b within 0.05 noise.
    noise = (0.01, -0.01, 0.0, 0.005, -0.005)
    wobble = (0.05, -0.04, 0.03, -0.05, 0.01)
    records = [record("b", s, 0.3) for s in SEEDS]
    records += [record("a", s, 0.5 + e) for s, e in zip(SEEDS, noise)]
    records += [record("c", s, 0.1 + e) for s, e in zip(SEEDS, noise)]
    records += [record("d", s, 0.3 + w) for s, w in zip(SEEDS, wobble)]
    rows = evaluate_findings(
        [finding("ab", "a", "b"), finding("cb", "c", "b"), finding("db", "d", "b")], records, {}, {}
    )
    verdicts = {row["id"]: row["verdict"] for row in rows}
    assert verdicts == {"ab": "reproduced", "cb": "contradicted", "db": "inconclusive"}
    ab, _, db = rows
    assert ab["effect"] == pytest.approx(0.2) and ab["n_seeds"] == 5
    # The paired t over seeds, as scipy computes it; Holm over the three findings.
    p = stats.ttest_1samp([w for w in wobble], 0.0).pvalue
    assert db["p_value"] == pytest.approx(p)
    assert db["p_holm"] == pytest.approx(min(1.0, p * 1))  # the largest p keeps its own (step-down)
    assert db["detectable_difference"] > abs(db["effect"])
    # e (0.02 above b, d's wobble) needs more seeds than ran: exactly as many as the power
    # statement at that many seeds says.
    e_records = records + [record("e", s, 0.32 + w) for s, w in zip(SEEDS, wobble)]
    (eb,) = evaluate_findings([finding("eb", "e", "b")], e_records, {}, {})
    assert eb["verdict"] == "inconclusive" and eb["seeds_needed"] > eb["n_seeds"]
    assert detectable_difference(eb["std"], eb["seeds_needed"], 0.05) <= eb["effect"]
    assert detectable_difference(eb["std"], eb["seeds_needed"] - 1, 0.05) > eb["effect"]


def test_non_inferiority_needs_the_interval_above_minus_the_margin() -> None:
    records = [record("ppo", s, 0.40 + 0.002 * s) for s in SEEDS]
    records += [record("rloo", s, 0.39 + 0.002 * s) for s in SEEDS]  # 0.01 worse, a tight interval
    (close,) = evaluate_findings([finding("f", "rloo", "ppo", margin=0.05)], records, {}, {})
    assert close["verdict"] == "reproduced"
    records = [r for r in records if r["method"] == "ppo"] + [record("rloo", s, 0.20 + 0.002 * s) for s in SEEDS]
    (worse,) = evaluate_findings([finding("f", "rloo", "ppo", margin=0.05)], records, {}, {})
    assert worse["verdict"] == "contradicted"


def test_a_trend_over_a_sweep_is_the_slope_of_the_difference() -> None:
    # PPO gains 0.05 on DPO per doubling of the pairs, in every seed.
    sizes = (250, 500, 1000, 2000)
    records = []
    for s in SEEDS:
        for i, n in enumerate(sizes):
            params = {"preferences.max_pairs": n}
            records.append(record("dpo", s, 0.4, params=params))
            records.append(record("ppo", s, 0.2 + 0.05 * i + 0.003 * s, params=params))
    config = {"methods": [{"method": m, "sweep": {"preferences.max_pairs": list(sizes)}} for m in ("dpo", "ppo")]}
    (row,) = evaluate_findings(
        [finding("t", "ppo", "dpo", kind="trend", sweep="preferences.max_pairs")], records, {}, config
    )
    assert row["effect"] == pytest.approx(0.05) and row["verdict"] == "reproduced" and row["points"] == list(sizes)
    # The configured runs are the point at the configured value (here 1000, taken out of the sweep).
    for r in records:
        if r["params"]["preferences.max_pairs"] == 1000:
            r["params"] = {}
    for spec in config["methods"]:
        spec["sweep"]["preferences.max_pairs"].remove(1000)
    config["preferences"] = {"max_pairs": 1000}
    (row,) = evaluate_findings(
        [finding("t", "ppo", "dpo", kind="trend", sweep="preferences.max_pairs")], records, {}, config
    )
    assert row["effect"] == pytest.approx(0.05) and row["points"] == list(sizes)


def test_sides_pick_the_configured_setting_or_a_point_of_the_sweep() -> None:
    config = {"methods": [{"method": "dapo", "sweep": {"clip_range_high": [0.2, 0.28]}}]}
    records = [
        record("dapo", 0, 0.1, params={"lr": 1e-3}),
        record("dapo", 0, 0.2, params={"lr": 1e-3, "clip_range_high": 0.2}),
        record("dapo", 0, 0.3, params={"lr": 1e-3, "clip_range_high": 0.28}),
    ]
    assert [r["gold_reward"] for r in side_records(records, {"method": "dapo"}, config)] == [0.1]
    point = {"method": "dapo", "where": {"clip_range_high": 0.2}}
    assert [r["gold_reward"] for r in side_records(records, point, config)] == [0.2]


def test_late_training_metrics_come_from_the_last_quarter_of_the_history() -> None:
    histories = {
        f"{m}{s}": {"train": [{"policy/entropy": v} for v in values]}
        for m, values in (
            ("high", [2.0, 1.9, 1.8, 1.7, 1.6, 1.5, 1.4, 1.3]),
            ("low", [2.0, 1.5, 1.0, 0.5, 0.4, 0.3, 0.2, 0.1]),
        )
        for s in SEEDS
    }
    records = [record(m, s, 0.0, run_dir=f"{m}{s}") for m in ("high", "low") for s in SEEDS]
    (row,) = evaluate_findings([finding("e", "high", "low", measure="late:policy/entropy")], records, histories, {})
    # Last quarter (2 of 8 rows): (1.4 + 1.3) / 2 - (0.2 + 0.1) / 2 = 1.2 in every seed.
    assert row["effect"] == pytest.approx(1.2) and row["std"] == 0.0 and row["verdict"] == "reproduced"


def test_gold_at_matched_kl_reads_both_paths_at_the_smaller_reach() -> None:
    path = kl_path([{"kl": 4.0, "gold_reward": 0.5, "checkpoints": [{"kl": 2.0, "gold_reward": 0.4}]}])
    assert path == [(2.0, 0.4), (4.0, 0.5)]
    assert gold_at([(0.0, 0.0), *path], 3.0) == pytest.approx(0.45) and gold_at(path, 9.0) is None
    records = []
    for s in SEEDS:
        records.append(record("base", s, 0.0, kl=0.0))
        # DPO reaches 0.6 at KL 6 (0.3 at KL 3); PPO 0.2 at KL 3: DPO's frontier is higher.
        records.append(record("dpo", s, 0.6 + 0.01 * s, kl=6.0))
        records.append(record("ppo", s, 0.2, kl=3.0))
    (row,) = evaluate_findings([finding("k", "dpo", "ppo", measure="gold_at_kl")], records, {}, {})
    assert row["a_mean"] == pytest.approx(0.3 + 0.005 * 2) and row["b_mean"] == pytest.approx(0.2)
    assert row["verdict"] == "reproduced"


def test_overoptimization_is_the_measured_flag_of_the_sides_setting() -> None:
    records = [
        {"method": "ppo", "seed": 0, "params": {}},
        {"method": "ppo", "seed": 0, "params": {"budget.sequences": 4096}},
    ]
    config = {"methods": [{"method": "ppo", "sweep": {"budget.sequences": [4096]}}]}
    entries = {
        "ppo": {"method": "ppo", "overoptimized": False, "decline": 0.0, "decline_seeds": 0, "evidence": "x"},
        "ppo (budget.sequences=4096)": {
            "method": "ppo",
            "overoptimized": True,
            "decline": 0.1,
            "decline_seeds": 5,
            "evidence": "x",
        },
    }
    long_run = finding("o", "ppo", None, kind="overoptimization", where_a={"budget.sequences": 4096})
    (row,) = evaluate_findings([long_run], records, {}, config, entries)
    assert row["verdict"] == "reproduced" and row["effect"] == 0.1
    (row,) = evaluate_findings([finding("o", "ppo", None, kind="overoptimization")], records, {}, config, entries)
    assert row["verdict"] == "inconclusive" and row["effect"] == 0.0
