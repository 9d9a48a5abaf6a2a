"""Evaluation metrics that need no ML stack (``metrics``); the evaluation worker is ``model.eval_worker``."""
