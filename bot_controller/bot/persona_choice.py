"""Who the bot speaks as in a channel: a mixin of ``PersonaBot`` (it uses the bot's ``conn``, ``settings``,
``workspace``, ``model_path``, ``stats`` and ``default_choice``).

The channel's persona, else the default one (``/persona NAME default``), else the model's own choice: the persona
with the most training examples in the dataset the model was trained on (``core.training.default_persona``),
recomputed when the model or the settings change. An opted-out or forgotten person is never one
(``core.dataset.personas.load_persona`` refuses them, and the line says why).
"""
from __future__ import annotations

import logging
from pathlib import Path

from core.dataset import DatasetError
from core.dataset.personas import load_persona
from storage import bot_settings

LOG = logging.getLogger("dps.bot")


class PersonaChoice:
    def persona_here(self, channel):
        """The persona answering in ``channel``: the channel's, else the default one, else the model's own choice
        (the most training examples in its dataset); None, with a notice, when nobody may be one."""
        persona_id = bot_settings.persona_for(self.settings, channel.id, getattr(channel, "parent_id", None))
        if persona_id is None:
            return self.automatic_persona()
        try:
            return load_persona(self.conn, persona_id)
        except DatasetError as exc:
            self.stats.notice(f"persona for #{getattr(channel, 'name', channel.id)}: {exc}")
            return None

    def automatic_persona(self):
        if self.model_path is None:
            return None
        if self.default_choice is None or self.default_choice.model != self.model_path:
            from core.training.default_persona import default_persona
            chosen = default_persona(self.conn, self.workspace, self.model_path)
            if chosen is None:
                self.stats.notice("no persona is set and nobody this model learned may be one: use `/persona NAME "
                                  "default` or choose one on the Bot page")
                return None
            self.default_choice = AutomaticChoice(self.model_path, chosen)
            LOG.info("no persona is chosen: answering as %s (choose one with `/persona NAME default` or on the Bot "
                     "page)", chosen.why)
        try:
            return load_persona(self.conn, self.default_choice.id)
        except DatasetError as exc:
            self.stats.notice(f"the automatic persona: {exc}")
            return None



class AutomaticChoice:
    """The persona picked for a model when none is chosen (``core.training.default_persona``), per model."""

    def __init__(self, model: Path, chosen) -> None:
        self.model, self.id, self.name, self.why, self.reason = model, chosen.id, chosen.name, chosen.why, chosen.reason
