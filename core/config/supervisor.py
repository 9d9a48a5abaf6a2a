"""The ``[supervisor]`` table of ``config.toml``: how the bot's supervisor (``bot_controller``) watches the bot.

Only plain data lives here (core never imports ``bot_controller``); the controller turns it into its policy.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class SupervisorConfig:
    pause_for_training: bool = True     # a training job pauses the bot (model unloaded) and resumes it after, so
    #                                   both never fight over one GPU's memory; off when the GPU has room for both
    heartbeat_seconds: float = 5.0      # the bot beats this often from its event loop
    missed_heartbeats: int = 3          # this many silent intervals = hung: kill and restart (15 s by default)
    start_timeout_seconds: float = 120.0  # first beat due within this: interpreter start, imports, model load
    backoff_base_seconds: float = 2.0   # first restart delay; doubles per consecutive failure
    backoff_cap_seconds: float = 300.0  # ...up to this, so a flapping network is retried every 5 minutes at most
    max_restarts_per_hour: int = 5      # beyond this the bot is FATAL: a crash loop needs a human, not a 6th try
    stable_seconds: float = 600.0       # a bot that ran this long before crashing starts the backoff afresh
    stop_grace_seconds: float = 15.0    # after the stop request: time to log out of Discord and exit cleanly
    terminate_grace_seconds: float = 5.0  # after terminate, before kill
