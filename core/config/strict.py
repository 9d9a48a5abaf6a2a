"""Strict loading of typed config dataclasses from plain dicts (TOML tables, presets, run snapshots).

An unknown key or a value of the wrong type is a ``ConfigError`` naming the key and where it came from. Every config
section (``core.config.app_config``, ``core.config.training``) is built through here.
"""
from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path


class ConfigError(ValueError):
    """The configuration file or an override is invalid; the message names the key and the file."""


def from_dict(cls, data: dict, *, where: str, prefix: str = ""):
    """Build dataclass ``cls`` from ``data``; unknown keys and wrong types raise ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: [{prefix.rstrip('.')}] must be a table")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key '{prefix}{unknown[0]}' (known: {', '.join(sorted(fields))})")
    values = {}
    for name, value in data.items():
        values[name] = coerce(hints[name], value, where=where, key=prefix + name)
    return cls(**values)


def coerce(hint, value, *, where: str, key: str):
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, where=where, prefix=key + ".")
    origin = typing.get_origin(hint)
    if origin in (types.UnionType, typing.Union):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return coerce(option, value, where=where, key=key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise errors[0] if len(errors) == 1 else ConfigError(f"{where}: '{key}' has an unsupported value {value!r}")
    if origin is list:
        (item_hint,) = typing.get_args(hint) or (object,)
        if not isinstance(value, list):
            raise ConfigError(f"{where}: '{key}' must be a list, not {type(value).__name__}")
        return [coerce(item_hint, item, where=where, key=f"{key}[{i}]") for i, item in enumerate(value)]
    if origin is typing.Literal:
        if value not in typing.get_args(hint):
            raise ConfigError(f"{where}: '{key}' must be one of {list(typing.get_args(hint))}, not {value!r}")
        return value
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if hint is Path and isinstance(value, str):
        return Path(value)
    if hint is object or (isinstance(hint, type) and isinstance(value, hint) and
                          not (hint is int and isinstance(value, bool))):
        return value
    raise ConfigError(f"{where}: '{key}' must be {getattr(hint, '__name__', hint)}, not {type(value).__name__} "
                      f"({value!r})")


def apply_overrides(config, overrides: dict, *, where: str = "override"):
    """A copy of a config dataclass with ``overrides`` (a nested dict, e.g. a preset) merged in, validated."""
    merged = deep_merge(dataclasses.asdict(config), overrides)
    return from_dict(type(config), merged, where=where)


def deep_merge(base: dict, extra: dict) -> dict:
    result = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = deep_merge(result[key], value)
        else:
            result[key] = value
    return result
