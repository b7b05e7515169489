"""``%mofang_sweep`` and ``%mofang_sweeps`` in a real IPython kernel talking to a real server."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.jobs.conftest import stop_replicas_under
from tests.jobs.server import Server, jupyter_server
from tests.jobs.test_magics import KERNEL_CONFIG, Kernel, start_kernel
from tests.sweeps.conftest import digits_notebook

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("sweep-magics")
    with jupyter_server(base / "home", base / "state") as running:
        yield running
    stop_replicas_under(base)


@pytest.fixture(scope="module")
def kernel(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    ipython_dir = tmp_path_factory.mktemp("ipython")
    (ipython_dir / "profile_default").mkdir()
    shutil.copy(KERNEL_CONFIG, ipython_dir / "profile_default" / "ipython_kernel_config.py")
    notebook = digits_notebook(server.root / "project" / "digits.ipynb")
    yield from start_kernel(server, notebook, ipython_dir)


def test_help_and_bad_flags(kernel: Kernel) -> None:
    result = kernel.run("%mofang_sweep --help")
    assert result["status"] == "ok"
    assert "usage: %mofang_sweep" in result["stdout"] and "NAME=TYPE:SPEC" in result["stdout"]
    message = kernel.refused("%mofang_sweep --param lr=float:0:1 --objective maximize:accuracy")
    assert "unknown type 'float'" in message
    message = kernel.refused("%mofang_sweep --param depth=int:1:3 --objective maximize:accuracy")
    assert "does not assign depth in its cell tagged 'parameters'" in message
    assert "You have no sweep 'nope-123456'" in kernel.refused("%mofang_sweeps nope-123456")


def test_a_sweep_of_this_notebook_with_wait_shows_its_trials(kernel: Kernel) -> None:
    result = kernel.run(
        "%mofang_sweep --param lr=double:0.01:0.2:log --param loss=categorical:hinge,log_loss "
        "--objective maximize:accuracy --algorithm tpe --seed 2 --parallel 2 --max-trials 2 "
        "--set epochs=2 --env OMP_NUM_THREADS=1 --wait"
    )
    assert result["status"] == "ok", result
    assert result["stdout"].startswith("Started sweep digits-")
    sweep_id = result["stdout"].split()[2]
    page = result["html"][0]
    assert f"<b>{sweep_id}</b>: <b>Succeeded</b>" in page
    assert page.count("<td>Succeeded</td>") == 2
    assert '<tr style="font-weight:bold">' in page  # the best trial stands out
    assert "<th>lr</th><th>loss</th>" in page
    assert f"{sweep_id}: Succeeded" in result["text"][0]
    listed = kernel.run("%mofang_sweeps")
    assert sweep_id in listed["stdout"] and "project/digits.ipynb" in listed["stdout"]
