"""Whether two comparisons gave the same results: every value of the first metrics.json is equal in
the second, timing and memory fields aside (they differ between identical runs), and what the
second adds is listed. For checking that a refactoring changed no number:

    python scripts/same_metrics.py runs/before/metrics.json runs/after/metrics.json --skip verdict

(the verdict's sentences quote run times).

Exit status 0 when every value is equal, 1 otherwise (the first differences are printed).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

# Fields that measure time or memory, or describe the machine, not results.
IGNORED_PARTS = ("time", "tokens_per_s", "peak_mem", "created", "environment", "timing", "perf/")


def ignored(key: str) -> bool:
    return key.endswith("_s") or any(part in key for part in IGNORED_PARTS)


def differences(before: Any, after: Any, path: str = "") -> tuple[list[str], list[str]]:
    """(values of ``before`` that differ in ``after``, keys that ``after`` adds), as dotted paths."""
    if isinstance(before, dict) and isinstance(after, dict):
        differ, added = [], [f"{path}.{k}" for k in after if k not in before and not ignored(k)]
        for key, value in before.items():
            if ignored(key):
                continue
            if key not in after:
                differ.append(f"{path}.{key}: missing after")
                continue
            d, a = differences(value, after[key], f"{path}.{key}")
            differ, added = differ + d, added + a
        return differ, added
    if isinstance(before, list) and isinstance(after, list):
        if len(before) != len(after):
            return [f"{path}: {len(before)} items before, {len(after)} after"], []
        differ, added = [], []
        for i, (b, a) in enumerate(zip(before, after)):
            d, x = differences(b, a, f"{path}[{i}]")
            differ, added = differ + d, added + x
        return differ, added
    return ([] if before == after else [f"{path}: {before!r} -> {after!r}"]), []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--skip", nargs="*", default=[], help="Top-level keys to leave out (e.g. config).")
    args = parser.parse_args()
    before, after = (json.loads(p.read_text(encoding="utf-8")) for p in (args.before, args.after))
    for key in args.skip:
        before.pop(key, None), after.pop(key, None)
    differ, added = differences(before, after)
    kinds = sorted({re.sub(r"\[\d+\]", "[]", key) for key in added})
    print(f"{len(differ)} values differ; {len(kinds)} kinds of key added")
    for line in differ[:40]:
        print("  differs:", line)
    for key in kinds[:40]:
        print("  added:", key)
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
