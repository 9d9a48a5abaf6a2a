"""The typed configuration tree, loaded from the workspace's ``config.toml``.

Every knob has its default here with a comment saying why. Loading is strict: an unknown section or key, or a value
of the wrong type, is a ConfigError naming the key and the file. Sections are dataclasses; other modules (training)
define their own section classes and register them in ``AppConfig``.
"""
from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path

import tomli_w

from core.config.strict import ConfigError, from_dict
from core.config.supervisor import SupervisorConfig
from core.config.training import TrainingConfig
from core.config.workspace import atomic_write_text


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
    min_target_chars: int = 2           # drop "k"/"?" targets that teach nothing but brevity; 5 (no "lol", "ye") put
    #                                   every sample persona above base but lowered overall attribution 0.55 -> 0.51
    #                                   (bench/RESULTS.md): short replies are part of some voices
    max_share: float = 0.12             # no persona above this share of the training set, so loud users don't drown others
    max_upsample: float = 1.0           # never duplicate minor personas' examples (duplicates teach memorisation)
    reaction_boost: float = 1.5         # reacted-to targets are preferred when downsampling, capped so they don't dominate
    per_persona_max: int = 0            # optional hard cap of examples per persona (0 = none)
    split_by: typing.Literal["conversation", "time"] = "conversation"  # by conversation keeps contexts out of two
    #                                   splits; "time" makes the latest slice the test set (closer to deployment)
    split_ratios: list[float] = field(default_factory=lambda: [0.85, 0.10, 0.05])  # train, val, test
    seed: int = 1234                    # fixed so two runs on the same data give the same files
    style_profile: bool = True          # add each persona's automatic profile (core/dataset/profile.py) to their
    #                                   system message: with the name alone, 0.25 of the tuned replies sounded like
    #                                   their persona (real: 0.71); with the profile 0.38, and 0.55 at lr 1e-3
    #                                   (bench/RESULTS.md)
    style_examples: int = 0             # also quote this many of the persona's own lines after the profile (other
    #                                   lines each training example; a fixed set for evaluation and the bot)
    spam_repeat_limit: int = 3          # one author's same text beyond this many times in their last 20 messages of a
    #                                   channel is spam: the extra copies go (0 turns the filter off)


@dataclass
class MemoryConfig:
    embedder: str = ""                  # a sentence-transformers folder or name; "" = the bundled all-MiniLM-L6-v2
    #                                   (offline, 384 dimensions, fast on a CPU); changing it needs a fresh memory folder
    top_k: int = 5                      # memories shown to the bot per reply: more crowds the short context window
    recency_weight: float = 0.2         # share of a memory's score from how recent it is (0 = similarity only), so
    #                                   that of two similar memories the newer (likelier still true) one wins
    recency_half_life_days: float = 30.0  # a memory this old gets half the recency score of one written now
    index_threshold: int = 5000         # rows before a vector index is built: below it a flat scan is exact and fast
    batch_size: int = 512               # messages embedded and written per batch (a stop request is honoured between)


@dataclass
class AppConfig:
    fetch: FetchConfig = field(default_factory=FetchConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)  # core/training_config.py: knobs and presets
    memory: MemoryConfig = field(default_factory=MemoryConfig)  # the bot's long-term memory (``launcher.py embed``)
    supervisor: SupervisorConfig = field(default_factory=SupervisorConfig)  # the bot's supervisor (bot_controller)


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
