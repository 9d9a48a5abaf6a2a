"""The bot's long-term memory, app side: which stored messages are remembered and as what text, which channels a
conversation may recall from (``scope``), and the embed job."""
