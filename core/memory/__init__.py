"""The bot's long-term memory, app side: which stored messages are remembered and as what text, and the embed job."""
