"""The typed configuration tree, loaded from the workspace's ``config.toml``.

Every knob has its default here with a comment saying why. Loading is strict: an unknown section or key, or a value
of the wrong type, is a ConfigError naming the key and the file. Sections are dataclasses; other modules (training)
define their own section classes and register them in ``AppConfig``.
"""
from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from core.training_config import TrainingConfig
from core.workspace import atomic_write_text


class ConfigError(ValueError):
    """The configuration file or an override is invalid; the message names the key and the file."""


@dataclass
class FetchConfig:
    page_size: int = 100            # Discord returns at most 100 messages per history request
    max_retries: int = 5            # transient HTTP errors (5xx, timeouts) before a channel is given up for this run
    retry_base_seconds: float = 2.0  # exponential backoff base between those retries
    include_threads: bool = True    # active and archived threads and forum posts of allowlisted channels


@dataclass
class DatasetConfig:
    min_messages: int = 50              # authors with fewer messages are not personas (too little to learn a voice)
    conversation_gap_minutes: float = 30.0  # a silence this long starts a new conversation unless a reply crosses it
    merge_window_seconds: float = 120.0     # one author's messages this close together form one turn
    max_context_turns: int = 12         # previous turns shown before a target; longer contexts rarely help short chat
    context_token_budget: int = 768     # keeps examples under the training sequence length with room for the target
    min_target_chars: int = 2           # drop "k"/"?" targets that teach nothing but brevity
    max_share: float = 0.12             # no persona above this share of the training set, so loud users don't drown others
    max_upsample: float = 1.0           # never duplicate minor personas' examples (duplicates teach memorisation)
    reaction_boost: float = 1.5         # reacted-to targets are preferred when downsampling, capped so they don't dominate
    per_persona_max: int = 0            # optional hard cap of examples per persona (0 = none)
    split_by: typing.Literal["conversation", "time"] = "conversation"  # by conversation keeps contexts out of two
    #                                   splits; "time" makes the latest slice the test set (closer to deployment)
    split_ratios: list[float] = field(default_factory=lambda: [0.85, 0.10, 0.05])  # train, val, test
    seed: int = 1234                    # fixed so two runs on the same data give the same files
    spam_repeat_limit: int = 3          # one author's same text beyond this many times in their last 20 messages of a
    #                                   channel is spam: the extra copies go (0 turns the filter off)


@dataclass
class AppConfig:
    fetch: FetchConfig = field(default_factory=FetchConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)  # core/training_config.py: knobs and presets


def load_config(path: Path) -> AppConfig:
    """The config from ``path`` (defaults when the file does not exist), validated."""
    if not path.exists():
        return AppConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return from_dict(AppConfig, data, where=str(path))


def save_config(config: AppConfig, path: Path) -> None:
    atomic_write_text(path, tomli_w.dumps(dataclasses.asdict(config)))


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
