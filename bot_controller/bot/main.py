"""Placeholder for the bot runtime's entry point (``python launcher.py --worker bot``).

The bot runtime (discord.py bot and cogs) is built by another change and replaces this file; until then the supervisor
gets a clear configuration exit and goes FATAL instead of restarting into the same error.
"""
from __future__ import annotations


def main(argv: list[str]) -> int:
    from bot_controller.child import exit_config
    return exit_config("bot runtime not built: bot_controller/bot/main.py is still the placeholder")
