"""From messages (stored or live) to cleaned, scrubbed, threaded turns: the shared data (``turns``), personal-data
scrubbing (``scrub``), mention and name handling (``text``), admission filters (``filters``) and conversation
threading (``threading``). Training data and the bot's live prompts both go through here."""
