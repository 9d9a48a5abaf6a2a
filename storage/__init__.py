"""Persistence: SQLite repositories and migrations (and, later, LanceDB memory and the embedder adapter)."""
