"""Aggregates over seeds: one row per method x setting, each metric's mean, std and Student-t
95 % interval against scipy's, in the order the runs came."""

from __future__ import annotations

import math

import pytest
from scipy import stats

from alignlab.report.aggregates import aggregate


def _record(method: str, params: dict, seed: int, gold: float, kl: float) -> dict:
    return {
        "method": method,
        "params": params,
        "seed": seed,
        "gold_reward": gold,
        "gold_reward_se": 0.05,
        "kl": kl,
        "run_dir": f"runs/{method}/{params}/seed-{seed}",
    }


def test_rows_summarise_seeds_with_student_t_intervals() -> None:
    golds = [0.2, 0.5, 0.35]
    records = [_record("dpo", {"beta": 0.1}, s, g, 1.0 + s) for s, g in enumerate(golds)]
    records += [_record("ppo", {"kl_coef": 0.05}, 0, 0.4, 3.0), _record("dpo", {"beta": 0.5}, 0, 0.1, 0.5)]
    rows = aggregate(records)
    assert [(r["method"], r["params"], r["n_seeds"]) for r in rows] == [
        ("dpo", {"beta": 0.1}, 3),
        ("ppo", {"kl_coef": 0.05}, 1),
        ("dpo", {"beta": 0.5}, 1),
    ]
    gold = rows[0]["gold_reward"]
    sem = stats.sem(golds)
    low, high = stats.t.interval(0.95, df=2, loc=sum(golds) / 3, scale=sem)
    assert gold["mean"] == pytest.approx(0.35) and gold["std"] == pytest.approx(0.15)
    assert gold["ci95"] == pytest.approx((high - low) / 2)
    assert rows[0]["kl"]["mean"] == pytest.approx(2.0)
    # One seed: the interval is the run's own, 1.96 standard errors of its samples' mean.
    assert rows[1]["gold_reward"]["ci95"] == pytest.approx(1.96 * 0.05)
    assert rows[1]["gold_reward"]["std"] == 0.0


def test_missing_and_non_finite_values_are_left_out() -> None:
    records = [_record("dpo", {}, 0, 0.3, 1.0), _record("dpo", {}, 1, float("nan"), 2.0)]
    records[1]["relevance"] = None
    row = aggregate(records)[0]
    assert row["gold_reward"]["mean"] == pytest.approx(0.3) and math.isfinite(row["kl"]["ci95"])
    assert row["relevance"] == {"mean": None, "std": None, "ci95": None}
