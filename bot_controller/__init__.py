"""Supervision of the Discord bot child process, the bot entry point and its cogs."""
