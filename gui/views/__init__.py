"""One view per page (a CTkFrame subclass per file, built from ``(master, actions, bus)``); see gui.app.PAGES."""
