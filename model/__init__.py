"""Worker entry points that need the ML stack: training, export, evaluation, inference."""
