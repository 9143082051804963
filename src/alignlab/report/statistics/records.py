"""The fields of ``metrics.json`` records as the statistics read them: names of methods and
settings, finite numbers, per-sample rewards and lengths, checkpoints, groups of records and a
setting's mean path through its checkpoints. Anything missing or malformed reads as absent."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from alignlab.layout import BASE_METHOD, setting_label


def run_name(method: str, setting: str) -> str:
    """'dpo (beta=0.1)', or just 'dpo' for the default setting."""
    return method if setting == "default" else f"{method} ({setting})"


def optimises_reward_model(record: Mapping[str, Any]) -> bool:
    """Whether the run optimised the learned reward model (by training on it or by best-of-n
    selection), as its record's ``signal`` says."""
    return record.get("signal") == "reward_model"


def finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def mean_of(values: Iterable[Any]) -> float | None:
    """The mean of the finite values, None when there are none."""
    xs = [float(v) for v in values if finite(v)]
    return sum(xs) / len(xs) if xs else None


def samples(entry: Mapping[str, Any]) -> tuple[list[float], list[float]] | None:
    """A record's (or checkpoint's) per-sample gold rewards and lengths, None unless both are
    there, equally long and finite."""
    gold, length = entry.get("sample_gold"), entry.get("sample_length")
    if not isinstance(gold, list) or not isinstance(length, list) or not gold or len(gold) != len(length):
        return None
    if not all(finite(g) for g in gold) or not all(finite(n) for n in length):
        return None
    return gold, length


def checkpoints_of(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A record's checkpoints, [] when it has none (or something that is not a list of dicts)."""
    checkpoints = record.get("checkpoints")
    if not isinstance(checkpoints, list):
        return []
    return [c for c in checkpoints if isinstance(c, Mapping)]


def checkpoints_by_index(
    records: Sequence[Mapping[str, Any]],
) -> list[list[tuple[Mapping[str, Any], Mapping[str, Any]]]]:
    """Per checkpoint index j, the (record, its j-th checkpoint) pairs of the records that have one."""
    lists = [(r, checkpoints_of(r)) for r in records]
    depth = max((len(c) for _, c in lists), default=0)
    return [[(r, c[j]) for r, c in lists if len(c) > j] for j in range(depth)]


def checkpoint_path(
    records: Sequence[Mapping[str, Any]], lc_checkpoints: Mapping[str, Sequence[float | None]] | None = None
) -> list[dict[str, Any]]:
    """The mean training trajectory of one method and setting: per checkpoint index, the mean over
    seeds of step, KL, gold reward, mean length, proxy score (and length-controlled gold, given
    ``lc_checkpoints`` from :func:`length_control`); [] when no record has checkpoints. The final
    policies (the records themselves) are not part of it."""
    path = []
    for j, at in enumerate(checkpoints_by_index(records)):
        point = {
            "index": j,
            "n_seeds": len(at),
            "step": mean_of(c.get("step") for _, c in at),
            "kl": mean_of(c.get("kl") for _, c in at),
            "gold_reward": mean_of(c.get("gold_reward") for _, c in at),
            "mean_length": mean_of(c.get("mean_length") for _, c in at),
            "proxy_score": mean_of(c.get("proxy_score") for _, c in at),
        }
        if lc_checkpoints is not None:
            lcs = [lc_checkpoints.get(r.get("run_dir", "")) or [] for r, _ in at]
            point["lc_gold_reward"] = mean_of(values[j] for values in lcs if len(values) > j)
        path.append(point)
    return path


def group_records(records: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """(method, setting) -> its records, both in first-seen order."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for record in records:
        groups.setdefault((record["method"], setting_label(record.get("params"))), []).append(record)
    return groups


def base_by_seed(records: Sequence[Mapping[str, Any]], key: str) -> dict[Any, float]:
    """Seed -> the base policy's finite ``key``."""
    return {r.get("seed"): float(r[key]) for r in records if r.get("method") == BASE_METHOD and finite(r.get(key))}
