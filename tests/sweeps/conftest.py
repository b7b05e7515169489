"""Fixtures for sweep tests: the jobs' server fixtures, a small real model, sweep helpers.

Trials are real local jobs: a scikit-learn ``SGDClassifier`` trained with
``partial_fit`` on the digits data that ships with scikit-learn (no download),
reporting accuracy after every epoch with ``mofang_lab.sweeps.report``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.jobs.conftest import Fetch, api, server_config, stop_replicas_under
from tests.jobs.notebooks import write_notebook

# Trials share two cores with everything else.
os.environ.setdefault("OMP_NUM_THREADS", "1")

PARAMETERS_CELL = """\
lr = 0.01  # learning rate of SGD
alpha = 0.0001  # L2 penalty
epochs = 8
pause = 0.0  # seconds after each epoch, so that tests can watch trials run
loss = "hinge"
"""

TRAINING_CELL = """\
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import SGDClassifier

from mofang_lab.sweeps import report

print("trial started", flush=True)
X, y = load_digits(return_X_y=True)
X = X / 16.0
order = np.random.default_rng(0).permutation(len(X))
X, y = X[order], y[order]
train, test = slice(0, 1400), slice(1400, None)
model = SGDClassifier(
    loss=loss, learning_rate="constant", eta0=lr, alpha=alpha, random_state=0
)
for epoch in range(epochs):
    model.partial_fit(X[train], y[train], classes=np.arange(10))
    report(
        accuracy=model.score(X[test], y[test]),
        train_accuracy=model.score(X[train], y[train]),
    )
    time.sleep(pause)
"""

#: A good trial reaches about 0.95; one with lr below 1e-5 stays near 0.69 for epochs.
LR = {"type": "double", "name": "lr", "min": 1e-7, "max": 0.3, "distribution": "logUniform"}


def digits_notebook(path: Path) -> Path:
    return write_notebook(path, [(PARAMETERS_CELL, ["parameters"]), TRAINING_CELL])


def sweep_body(notebook: str, **settings: Any) -> dict[str, Any]:
    """A sweep request over ``lr`` with small, quick trials; ``settings`` override."""
    pause = settings.pop("pause", 0.1)
    return {
        "notebook": notebook,
        "settings": {
            "parameters": [LR],
            "objective": {
                "type": "maximize",
                "metric": "accuracy",
                "additional_metrics": ["train_accuracy"],
            },
            "algorithm": {"name": "random"},
            "parallel_trials": 2,
            "max_trials": 4,
            "max_failed_trials": 0,
            **settings,
        },
        "trial": {"env": {"OMP_NUM_THREADS": "1"}, "parameters": {"pause": pause}},
    }


async def wait_sweep(jp_fetch: Fetch, sweep_id: str, **kw: Any) -> dict[str, Any]:
    """The sweep once it has ended (checked every 0.2 s; a generous limit, not a timing)."""
    for _ in range(3000):
        sweep: dict[str, Any] = await api(jp_fetch, "sweeps", sweep_id, **kw)
        if sweep["state"] != "Running":
            return sweep
        await asyncio.sleep(0.2)
    raise AssertionError(f"sweep {sweep_id} still running: {sweep}")


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return server_config()


@pytest.fixture(autouse=True)
def _no_trial_outlives_its_test(tmp_path: Path) -> Iterator[None]:
    yield
    stop_replicas_under(tmp_path)
