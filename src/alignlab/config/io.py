"""Configs in and out: YAML files, ``--set`` overrides, validation errors that name the file and
the dotted key, and the help table of ``alignlab config show``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import TypeAdapter, ValidationError

from alignlab.config.experiment import ExperimentConfig
from alignlab.config.fields import SettingError
from alignlab.config.methods import METHODS
from alignlab.errors import ConfigError

T = TypeVar("T")

# pydantic's error types -> alignlab's wording (the messages users and tests already know).
_MESSAGES = {
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "list_type": "must be a list",
    "dict_type": "must be a mapping",
    "dataclass_type": "must be a mapping of settings",
    "dataclass_args_type": "must be a mapping of settings",
    "missing": "is required",
    "missing_argument": "is required",
}


def _dotted(loc: tuple[Any, ...]) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key


def _section_class(cls: type, loc: tuple[Any, ...]) -> type | None:
    """The config class of the section at ``loc`` (for "unknown key" messages)."""
    for part in loc:
        if not isinstance(part, int):
            cls = _field_class(cls, part)
            if cls is None:
                return None
    return cls


def _field_class(cls: type, name: str) -> type | None:
    """The dataclass a field holds (directly or as list items), resolved from pydantic's schema."""
    info = cls.__pydantic_fields__.get(name)
    if info is None:
        return None
    for candidate in (info.annotation, *getattr(info.annotation, "__args__", ())):
        if dataclasses.is_dataclass(candidate):
            return candidate
    return None


def _describe_error(cls: type, error: dict[str, Any]) -> tuple[str, str]:
    """(dotted key, message) of one pydantic error."""
    loc = tuple(error["loc"])
    kind = error["type"]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, SettingError):
        return _dotted((*loc, *cause.key.split("."))), str(cause)
    if kind == "unexpected_keyword_argument":
        parent = loc[:-1]
        where = _dotted(parent) or "the top level"
        section = _section_class(cls, parent)
        known = ", ".join(section.__dataclass_fields__) if section is not None else "?"
        return _dotted(loc), f"unknown key; {where} takes: {known}"
    if kind == "literal_error":
        message = f"must be one of {error['ctx']['expected']}, got {error['input']!r}"
        if isinstance(error["input"], bool) and "'no'" in error["ctx"]["expected"]:
            message += " (YAML reads a bare no as false: write 'no' in quotes)"
        return _dotted(loc), message
    template = _MESSAGES.get(kind)
    if template is None:
        return _dotted(loc), error["msg"]
    message = template.format(**error.get("ctx", {}))
    if kind not in ("missing", "missing_argument") and not kind.startswith(("greater", "less")):
        message += f", got {type(error['input']).__name__} {error['input']!r}"
    elif kind.startswith(("greater", "less")):
        message += f", got {error['input']!r}"
    return _dotted(loc), message


def from_dict(cls: type[T], data: Any, source: str = "<config>") -> T:
    """Build config ``cls`` from plain data; a ConfigError names ``source`` and the dotted key."""
    try:
        return TypeAdapter(cls).validate_python({} if data is None else data)
    except ValidationError as err:
        key, message = _describe_error(cls, err.errors()[0])
        raise ConfigError(f"{source}: key '{key or 'the top level'}': {message}") from None


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def parse_overrides(overrides: list[str]) -> dict[str, Any]:
    """Turn ``["dpo.lr=1e-5", "seeds=[0,1]"]`` into a nested mapping; values are read as YAML."""
    nested: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}': expected KEY=VALUE, e.g. dpo.beta=0.1")
        key, raw = item.split("=", 1)
        parts = key.strip().split(".")
        if not all(parts):
            raise ConfigError(f"override '{item}': empty key segment")
        try:
            value = yaml.safe_load(raw)
        except yaml.YAMLError as err:
            raise ConfigError(f"override '{item}': value is not valid YAML ({err.problem})") from None
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override '{item}': '{part}' is set twice")
        node[parts[-1]] = value
    return nested


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``update`` applied recursively (mappings merge, anything else replaces)."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def read_yaml(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        with path.open(encoding="utf-8") as fh:
            return yaml.safe_load(fh)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} not valid YAML ({getattr(err, 'problem', err)})") from None


def load_config(
    path: str | Path | None = None,
    overrides: list[str] | None = None,
    cls: type[T] = ExperimentConfig,
    settings: Mapping[str, Any] | None = None,
) -> T:
    """Read ``path`` (YAML) if given, apply ``settings`` (a nested mapping) and ``--set`` style
    overrides, validate, return the config."""
    data: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        loaded = read_yaml(path)
        if loaded is not None and not isinstance(loaded, Mapping):
            raise ConfigError(f"{path}: the top level must be a mapping of settings")
        data = dict(loaded or {})
        source = str(path)
    if settings:
        data = merge(data, settings)
        source = f"{source} with settings {dict(settings)}"
    if overrides:
        data = merge(data, parse_overrides(overrides))
        source = f"{source} with --set {' '.join(overrides)}"
    return from_dict(cls, data, source)


def dump_config(config: Any) -> str:
    return yaml.safe_dump(to_dict(config), sort_keys=False, allow_unicode=True)


def save_config(config: Any, path: str | Path) -> None:
    Path(path).write_text(dump_config(config), encoding="utf-8")


def with_settings(config: T, settings: Mapping[str, Any], source: str) -> T:
    """A copy of dataclass ``config`` with ``settings`` applied and validated (for sweeps)."""
    return from_dict(type(config), merge(to_dict(config), settings), source)


@dataclass
class SettingHelp:
    key: str
    type: str
    default: Any
    value: Any
    help: str


def _type_name(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if not getattr(annotation, "__args__", None) else None
    text = text or str(annotation)
    for noise in ("typing.", "Annotated[", ", Strict(strict=True)]", "alignlab.config."):
        text = text.replace(noise, "")
    return text.split(", BeforeValidator")[0]


def describe(config: Any, prefix: str = "") -> Iterator[SettingHelp]:
    """Every setting of ``config`` (recursively): dotted key, type, default, current value and
    help text, from the schema itself."""
    for name, info in type(config).__pydantic_fields__.items():
        value = getattr(config, name)
        key = f"{prefix}{name}"
        if dataclasses.is_dataclass(value):
            yield from describe(value, key + ".")
            continue
        default = info.default_factory() if info.default_factory is not None else info.default
        if dataclasses.is_dataclass(default):
            default = to_dict(default)
        yield SettingHelp(key, _type_name(info.annotation), default, value, info.description or "")


def method_config(config: ExperimentConfig, method: str, settings: Mapping[str, Any] | None = None) -> ExperimentConfig:
    """The experiment config with ``method``'s section set: the settings that make the method
    (its registry preset, e.g. dr-grpo's loss type), with ``budget.sequences`` the steps or
    iterations of that budget, then ``settings`` (a comparison's overrides and swept value, a
    caller's explicit settings: a comparison refuses to set a budget's keys there)."""
    if method not in METHODS:
        raise ConfigError(f"unknown method '{method}'; known: {', '.join(METHODS)}")
    spec = METHODS[method]
    section = {**spec.preset, **(settings or {})}
    if config.budget.sequences and spec.compared and spec.trainer is not None:
        shaped = with_settings(config, {spec.section: section}, f"method {method}")
        section = {**spec.preset, **spec.budget_settings(shaped, config.budget.sequences), **(settings or {})}
    return with_settings(config, {spec.section: section}, f"method {method}")


def default_config_path() -> Path | None:
    """``configs/default.yaml`` of the working directory, else of the source checkout alignlab is
    installed from; None (the dataclass defaults) if neither exists."""
    for root in (Path.cwd(), Path(__file__).resolve().parents[3]):
        if (root / "configs" / "default.yaml").is_file():
            return root / "configs" / "default.yaml"
    return None
