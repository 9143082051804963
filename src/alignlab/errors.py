"""Errors that reach the user as one clear message, never as a traceback."""

from __future__ import annotations


class AlignlabError(Exception):
    """A problem with the user's input or environment, reported by the CLI as one line."""


class ConfigError(AlignlabError):
    """A config file or override names an unknown key or holds a bad value."""


class DataError(AlignlabError):
    """A data file is malformed: the message names the file and line."""


class ModelLoadError(AlignlabError):
    """A model or tokenizer could not be loaded from the given path or hub id."""


class NumericalError(AlignlabError):
    """A loss or gradient became NaN or infinite."""
