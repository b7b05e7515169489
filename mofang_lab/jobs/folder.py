"""The job folder: where a job's notebook, program, spec and logs live.

Every job gets one folder in the user's private storage (``jobs/<job id>/`` by
default, visible in the file browser), written once at submit time and read by
every replica: locally by the processes, on a cluster by the pods that mount
the same storage. Its layout is part of the user-facing contract:

==================  ============================================================
``notebook.ipynb``  the notebook as submitted, parameters injected
``program.py``      what every replica runs (see :mod:`mofang_lab.jobs.snapshot`)
``spec.json``       the ``JobSpec``
``logs/<r>.log``    the output of replica ``<r>`` (``master-0.log``, ...)
``hostfile``        mpi jobs: the hosts and slots ``mpirun`` uses
``.run/``           backend bookkeeping (process ids, exit codes)
==================  ============================================================
"""

from __future__ import annotations

import os
from pathlib import Path

from mofang_lab.jobs.snapshot import Snapshot
from mofang_lab.jobs.spec import JobSpec

__all__ = ["JobFolder"]


class JobFolder:
    """The paths of one job's folder, and writing it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def notebook(self) -> Path:
        return self.path / "notebook.ipynb"

    @property
    def program(self) -> Path:
        return self.path / "program.py"

    @property
    def spec(self) -> Path:
        return self.path / "spec.json"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def hostfile(self) -> Path:
        return self.path / "hostfile"

    @property
    def run(self) -> Path:
        return self.path / ".run"

    def log(self, replica: str) -> Path:
        return self.logs / f"{replica}.log"

    def run_state(self, replica: str) -> Path:
        return self.run / f"{replica}.json"

    def write(self, spec: JobSpec, snapshot: Snapshot) -> None:
        """Create the folder with the submitted files; it must not exist yet."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.mkdir()
        self.logs.mkdir()
        self.run.mkdir()
        _write(self.notebook, snapshot.notebook)
        _write(self.program, snapshot.program)
        _write(self.spec, spec.model_dump_json(indent=2) + "\n")


def _write(path: Path, text: str) -> None:
    # Written to a temporary name and renamed, so a reader never sees half a file.
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
