"""Jobs: worker subprocesses, the wire protocol between them and the app, events and the bus, run folders.

``runner`` starts and stops workers; ``wire`` is the one line protocol (both directions); ``events`` are the frozen
dataclasses that travel on it and on the ``bus``; ``runs`` records a job into its run folder; ``eta`` and ``advice``
turn raw progress and failures into what a person reads.
"""
