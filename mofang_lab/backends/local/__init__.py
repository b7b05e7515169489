"""The local backend: a job's replicas as process groups on the notebook server's machine.

``contract`` (each replica's command and environment), ``supervisor`` (one
job's life), ``store`` (SQLite), ``processes`` and ``runner`` (the process
groups and their state files), ``logs``, ``gpus``, and ``backend``
(``LocalBackend``, the ``JobBackend`` that wires them together).
"""

from mofang_lab.backends.local.backend import LocalBackend

__all__ = ["LocalBackend"]
