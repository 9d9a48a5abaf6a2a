"""Jobs: worker subprocesses, the wire protocol between them and the app, events and the bus, run folders.

``specs`` says what a job is (JobSpec, worker argv, job folders); ``runner`` starts and stops workers (``processes``
holds the OS-level parts); ``wire`` is the one line protocol (both directions); ``events`` are the frozen dataclasses
that travel on it and on the ``bus``, where every consumer subscribes with its own queue; ``runs`` records a job into
its run folder; ``worker_kit`` is what the light workers (import, prepare, fetch) share; ``eta`` and ``advice`` turn
raw progress and failures into what a person reads.
"""
