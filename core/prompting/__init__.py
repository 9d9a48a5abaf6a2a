"""The one prompt shape for training and the bot: ``builder`` selects context and renders chat messages; ``live``
turns discord.py messages into the same turns ``prepare`` builds."""
