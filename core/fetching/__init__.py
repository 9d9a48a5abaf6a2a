"""Data in from Discord: incremental and backfill fetch over REST (``fetch``), the discord.py adapter
(``discord_source``), and the channel allowlist listing (``channel_listing``)."""
