"""alignlab: train and compare LLM alignment algorithms on Hugging Face causal language models.

The Python API (see ``alignlab.api``)::

    import alignlab
    results = alignlab.compare()                      # the default comparison, a report
    policy = alignlab.train("dpo", data="prefs.jsonl")
    alignlab.evaluate(policy)
"""

from alignlab.api import Results, TrainedPolicy, compare, evaluate, settings_of, train
from alignlab.config import ExperimentConfig, load_config

__version__ = "0.1.0"

__all__ = ["ExperimentConfig", "Results", "TrainedPolicy", "compare", "evaluate", "load_config", "settings_of", "train"]
