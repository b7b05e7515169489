"""Small notebooks and requests the security tests submit: quick to run, easy to check."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.jobs.notebooks import write_notebook

#: A sweep trial that reports its objective at once, in Katib's StdOut format.
QUICK_TRIAL = "import time\ntime.sleep(pause)\nprint(f'accuracy={lr}', flush=True)"


def quick_sweep_notebook(path: Path) -> Path:
    return write_notebook(path, [("lr = 0.1\npause = 0.0", ["parameters"]), QUICK_TRIAL])


def sweep_request(notebook: str, **settings: Any) -> dict[str, Any]:
    """A sweep over ``lr`` whose trials finish in about a second."""
    pause = settings.pop("pause", 0.0)
    return {
        "notebook": notebook,
        "settings": {
            "parameters": [{"type": "double", "name": "lr", "min": 0.1, "max": 0.9}],
            "objective": {"type": "maximize", "metric": "accuracy"},
            "algorithm": {"name": "random"},
            "parallel_trials": 1,
            "max_trials": 1,
            "max_failed_trials": 0,
            **settings,
        },
        "trial": {"env": {"OMP_NUM_THREADS": "1"}, "parameters": {"pause": pause}},
    }


def printing_notebook(path: Path, source: str = "print('ok', flush=True)") -> Path:
    return write_notebook(path, [source])
