"""Stability of training: spread of the final gold reward over seeds, the training reward's
fluctuation within a run, jumps of the KL in the logged histories and, for PPO, the value head's
explained variance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from alignlab.report.statistics.intervals import t_interval
from alignlab.report.statistics.records import BASE_METHOD, finite, group_records, mean_of, run_name

DEFAULT_KL_JUMP_FACTOR = 2.0
# KL below this many nats counts as this many when looking for jumps: the first iterations of
# every run multiply a near-zero KL many times over, which is start-up, not instability.
KL_JUMP_FLOOR = 0.01
# The reward a run is trained on, as its history logs it: the online methods' optimised score,
# the DPO family's implicit reward margin.
TRAINING_REWARD_KEYS = ("reward/score", "train/rewards/margin")


def late_fluctuation(values: Sequence[float]) -> float | None:
    """Sample std of the last half of a run's logged values (None with fewer than two)."""
    late = [float(v) for v in values if finite(v)]
    late = late[len(late) // 2 :]
    if len(late) < 2:
        return None
    mean = sum(late) / len(late)
    return (sum((v - mean) ** 2 for v in late) / (len(late) - 1)) ** 0.5


def kl_jumps(
    kls: Sequence[float], factor: float = DEFAULT_KL_JUMP_FACTOR, floor: float = KL_JUMP_FLOOR
) -> tuple[int, int]:
    """(jumps, transitions): how many consecutive pairs of logged KLs have KL_t > factor x
    max(KL_{t-1}, floor), out of how many pairs."""
    values = [float(v) for v in kls if finite(v)]
    jumps = sum(1 for prev, cur in zip(values, values[1:]) if cur > factor * max(prev, floor))
    return jumps, max(len(values) - 1, 0)


def stability(
    records: Sequence[Mapping[str, Any]],
    histories: Mapping[str, Mapping[str, Any]] | None = None,
    factor: float = DEFAULT_KL_JUMP_FACTOR,
) -> list[dict[str, Any]]:
    """Per trained method and setting: the std over seeds of the final gold reward (None with one
    seed), the within-run std of the training reward over the last half of training
    (:func:`late_fluctuation` of the first of ``TRAINING_REWARD_KEYS`` the history logs, mean
    over seeds), the fraction of logged training steps whose ``objective/kl`` jumped
    (:func:`kl_jumps`, pooled over seeds; None without such histories) and the last
    ``value/explained_variance`` (mean over seeds; PPO only)."""
    histories = histories or {}
    rows = []
    for (method, setting), group in group_records(records).items():
        if method == BASE_METHOD:
            continue
        gold = t_interval(r.get("gold_reward") for r in group)
        jumps = transitions = 0
        explained, fluctuation = [], []
        for record in group:
            train = (histories.get(record.get("run_dir", "")) or {}).get("train") or []
            key = next((k for k in TRAINING_REWARD_KEYS if any(k in row for row in train)), None)
            if key is not None:
                fluctuation.append(late_fluctuation([row.get(key) for row in train]))
            j, t = kl_jumps([row.get("objective/kl") for row in train if row.get("objective/kl") is not None], factor)
            jumps, transitions = jumps + j, transitions + t
            last = next(
                (
                    row["value/explained_variance"]
                    for row in reversed(train)
                    if finite(row.get("value/explained_variance"))
                ),
                None,
            )
            if last is not None:
                explained.append(last)
        rows.append(
            {
                "method": method,
                "setting": setting,
                "name": run_name(method, setting),
                "n_seeds": gold["n"],
                "gold_std": gold["std"] if gold["n"] > 1 else None,
                "training_reward_std": mean_of(fluctuation),
                "kl_jumps": jumps if transitions else None,
                "kl_steps": transitions if transitions else None,
                "kl_jump_fraction": jumps / transitions if transitions else None,
                "explained_variance": mean_of(explained),
            }
        )
    return rows
