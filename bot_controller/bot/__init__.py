"""The bot child: the discord.py bot, its cogs and its entry point (run by the supervisor, never imported by it)."""
