"""Configuration and the workspace: the typed config tree (``app_config``, ``training``) loaded strictly
(``strict``), where files live (``workspace``, ``resources``), and the bot token in the OS keyring (``secrets``)."""
