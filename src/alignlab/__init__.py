"""alignlab: train and compare LLM alignment algorithms on Hugging Face causal language models.

The Python API (see ``alignlab.api``)::

    import alignlab
    results = alignlab.compare()                      # the default comparison, a report
    policy = alignlab.train("dpo", data="prefs.jsonl")
    alignlab.evaluate(policy)

The API's names are imported on first use, so that ``import alignlab.config`` (and the CLI's
``--help``) does not load torch and transformers.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_API = {
    "Results": "alignlab.api",
    "TrainedPolicy": "alignlab.api",
    "compare": "alignlab.api",
    "evaluate": "alignlab.api",
    "settings_of": "alignlab.api",
    "train": "alignlab.api",
    "ExperimentConfig": "alignlab.config",
    "load_config": "alignlab.config",
}

__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    if name not in _API:
        raise AttributeError(f"module 'alignlab' has no attribute {name!r}")
    return getattr(importlib.import_module(_API[name]), name)


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
