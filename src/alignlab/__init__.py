"""alignlab: train and compare LLM alignment algorithms on Hugging Face causal language models."""

__version__ = "0.1.0"
