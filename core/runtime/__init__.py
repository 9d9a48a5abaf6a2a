"""The training runtime: provisioning it (``provision``), its worker (``install_worker``) and its job spec (``jobs``).

Where it lives and when it is used is ``core.config.runtime`` (the job runner's ``worker_argv`` reads it).
"""
