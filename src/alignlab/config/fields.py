"""The vocabulary of alignlab's config schema: strict field types and ``setting``.

Configs are pydantic dataclasses, so one declaration gives the type check, the range check, the
default and the help text (``config show`` prints it). Types are strict: YAML's ``true`` is not an
integer and ``"3"`` is not a number, with one exception: PyYAML reads ``1e-5`` (no dot) as a
string, so float fields accept a string that parses as a number.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, Strict

# Unknown keys are errors: a typo must not silently fall back to a default.
STRICT_SCHEMA = ConfigDict(extra="forbid")


def _number_from_yaml_string(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


Int = Annotated[int, Strict()]
Float = Annotated[float, BeforeValidator(_number_from_yaml_string), Strict()]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]


class SettingError(ValueError):
    """A check across settings failed; ``key`` names the setting to blame (relative to the
    section that raised it), so the loader can print the full dotted key."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def require(condition: bool, key: str, message: str) -> None:
    if not condition:
        raise SettingError(key, message)


def setting(default: Any = ..., *, help: str, factory: Any = None, **constraints: Any) -> Any:
    """A config field: its default (or ``factory``), its help text, and range constraints
    (``gt``, ``ge``, ``lt``, ``le``) checked when the config is built."""
    if factory is not None:
        return Field(default_factory=factory, description=help, **constraints)
    return Field(default, description=help, **constraints)
