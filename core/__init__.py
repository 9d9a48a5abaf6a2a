"""Application logic without UI or ML: config, events, jobs, Discord import/fetch, dataset preparation, prompts."""
