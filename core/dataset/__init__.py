"""Dataset preparation: personas, consent, threading, scrubbing, balancing, splits, DPO pairs and the output files.

The flow (``pipeline.prepare_dataset``): messages are read per channel in id order (``source``), admitted and
cleaned (``filters``, ``text``, ``scrub``), threaded into conversations of merged turns (``threading``), turned into
examples and DPO pairs with the shared prompt builder (``examples``, ``dpo``, ``core.prompting.builder``), spooled to
disk with their split and sampling key (``splits``, ``balance``), then routed into the final files in a second pass
over the spool (``writer``, ``preview``). ``personas`` discovers and names personas; ``live`` runs the same
admission, cleaning and threading over live discord.py messages for the bot.
"""


class DatasetError(Exception):
    """Bad input to dataset preparation or persona commands; the message is one line naming what and where."""
