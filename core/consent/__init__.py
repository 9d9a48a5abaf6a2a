"""Consent: every rule about opt-out and forget, in one folder.

The rules, and where each one holds:
- **The record.** ``storage.consent``: who opted out or was forgotten (any user id, stored or not), the names to
  hide, and a version that grows with every change. An opt-out or a forget is recorded *first*, before anything is
  cleaned, so every writer refuses the person's text from that moment on.
- **Writers refuse their text.** Import, fetch and the bot's capture store messages through
  ``storage.messages.write_batch``, which withholds a forgotten author's messages inside its own transaction
  (their counts appear as ``withheld``); an opted-out person's messages are stored but left out of everything built.
  The memory refuses an opted-out person's text under its write lock (``storage.memory``).
- **Jobs that read people's text publish only what consent still allows.** ``prepare`` and ``embed`` take a
  ``guard.ConsentGuard`` when they start; before they publish they hold the consent lock (``lock``) and compare: a
  dataset built before someone opted out is thrown away and built again, an ``embed`` run deletes what it wrote for
  them. A forget or opt-out holds the same lock for its whole run, so the two never interleave.
- **One function each** for opt-out, opt-in and forget (``actions``), called by the CLI, the panel (through the CLI)
  and the bot alike.
- **Forget** (``actions.forget``, ``purge``): marks every artifact holding their text stale, deletes the files
  built from it, deletes their rows from the memory, searches every other workspace file for their text
  (``text_scan``), takes their text out of other people's rows (forwards, embeds), then deletes their messages and
  empties SQLite's write-ahead log. Model weights trained on their text are kept, stale, and named (``stale``).
- **Who may speak.** An opted-out person is never a persona of the bot or the playground
  (``core.dataset.personas.load_persona``), never recalled from memory, and hidden by name in every prompt.
"""
