"""The magics in a real IPython kernel, loaded by the configuration file the package installs."""

from __future__ import annotations

import shutil
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jupyter_client.manager import KernelManager

from tests.jobs.conftest import stop_replicas_under
from tests.jobs.notebooks import DDP_TRAINING, write_notebook
from tests.jobs.server import Server, jupyter_server

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
KERNEL_CONFIG = ROOT / "mofang_lab" / "etc" / "ipython" / "ipython_kernel_config.py"


class Kernel:
    def __init__(self, manager: KernelManager) -> None:
        self.client = manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 300) -> dict[str, Any]:
        """Execute ``code``; its stdout, rich outputs and error, collected."""
        result: dict[str, Any] = {"stdout": "", "stderr": "", "html": [], "text": []}

        def collect(message: dict[str, Any]) -> None:
            kind, content = message["header"]["msg_type"], message["content"]
            if kind == "stream":
                result[content["name"]] += content["text"]
            elif kind in ("display_data", "execute_result"):
                result["html"].append(content["data"].get("text/html", ""))
                result["text"].append(content["data"].get("text/plain", ""))

        reply = self.client.execute_interactive(code, output_hook=collect, timeout=timeout)
        result["status"] = reply["content"]["status"]
        return result

    def refused(self, code: str) -> str:
        """Run ``code`` expecting IPython's UsageError: its one-line message."""
        result = self.run(code)
        assert result["status"] == "error", result
        assert result["stderr"].startswith("UsageError: "), result
        assert "Traceback" not in result["stderr"]
        return str(result["stderr"])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("magics")
    with jupyter_server(base / "home", base / "state") as running:
        yield running
    stop_replicas_under(base)


def start_kernel(server: Server, notebook: Path, ipython_dir: Path) -> Iterator[Kernel]:
    manager = KernelManager(kernel_name="python3")
    manager.kernel_cmd = []  # the kernelspec's command, run with this Python below
    env = {
        # As the hub's single-user server gives its kernels: its URL and token.
        "JUPYTERHUB_SERVICE_URL": server.url,
        "JUPYTERHUB_API_TOKEN": server.token,
        "JPY_SESSION_NAME": str(notebook),
        "IPYTHONDIR": str(ipython_dir),
        "OMP_NUM_THREADS": "1",
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
    }
    manager.start_kernel(env=env, cwd=str(notebook.parent))
    try:
        yield Kernel(manager)
    finally:
        manager.shutdown_kernel(now=True)


@pytest.fixture(scope="module")
def kernel(server: Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kernel]:
    # The kernel reads the installed file from <prefix>/etc/ipython; a profile
    # holding a copy of it is read the same way, whether or not this tree is installed.
    ipython_dir = tmp_path_factory.mktemp("ipython")
    (ipython_dir / "profile_default").mkdir()
    shutil.copy(KERNEL_CONFIG, ipython_dir / "profile_default" / "ipython_kernel_config.py")
    notebook = write_notebook(
        server.root / "project" / "train.ipynb",
        [*DDP_TRAINING, "%mofang_submit --kind pytorch --workers 2\n%mofang_logs x -f"],
    )
    yield from start_kernel(server, notebook, ipython_dir)


def test_the_magics_are_loaded_when_the_kernel_starts(kernel: Kernel) -> None:
    result = kernel.run("%mofang_submit --help")
    assert result["status"] == "ok"
    assert "usage: %mofang_submit" in result["stdout"] and "--workers" in result["stdout"]


def test_a_bad_flag_is_a_clear_message(kernel: Kernel) -> None:
    assert kernel.refused("%mofang_submit --kind caffe") == (
        "UsageError: %mofang_submit: argument --kind: invalid choice: 'caffe' (choose from "
        "'pytorch', 'tensorflow', 'mpi', 'python') (see %mofang_submit --help)\n"
    )
    assert "does not parse as a Python literal" in kernel.refused("%mofang_submit -p lr=1.2.3")
    assert "You have no job 'nope-123456'" in kernel.refused("%mofang_logs nope-123456")


def test_submit_the_notebook_and_follow_it_to_completion(kernel: Kernel, server: Server) -> None:
    submitted = kernel.run(
        "%mofang_submit --kind pytorch --workers 2 -p steps=5 --env OMP_NUM_THREADS=1"
    )
    assert submitted["status"] == "ok", submitted
    job_id = submitted["stdout"].split()[1]
    assert f"<b>{job_id}</b> (pytorch)" in submitted["html"][0]
    # The link opens the job folder in JupyterLab, relative to the notebook's folder.
    assert f'href="../jobs/{job_id}/"' in submitted["html"][0]
    followed = kernel.run(f"%mofang_logs {job_id} -f")
    assert "rank 0: weights identical on 2 ranks" in followed["stdout"]
    listed = kernel.run("%mofang_jobs")
    assert job_id in listed["html"][0] and "Succeeded" in listed["html"][0]
    assert job_id in listed["text"][0]
    # The program left the magics out: the job did not submit itself again.
    program = (server.root / "jobs" / job_id / "program.py").read_text()
    assert "mofang_submit" not in program
    assert "already finished (Succeeded)" in kernel.refused(f"%mofang_cancel {job_id}")


def test_submit_wait_prints_progress(kernel: Kernel, server: Server) -> None:
    write_notebook(server.root / "project" / "quick.ipynb", ["print('quick')"])
    result = kernel.run("%mofang_submit --notebook ../project/quick.ipynb --wait")
    assert result["status"] == "ok", result
    assert "Created" in result["stdout"] and "Succeeded" in result["stdout"]
    assert "Succeeded" in result["html"][0]


def test_the_wheel_installs_the_kernel_config_where_ipython_reads_it() -> None:
    from IPython.core.application import ENV_CONFIG_DIRS

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    shared = pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["shared-data"]
    installed_as = shared["mofang_lab/etc/ipython/ipython_kernel_config.py"]
    assert installed_as == "etc/ipython/ipython_kernel_config.py"
    # <prefix>/etc/ipython is where every IPython kernel of an environment looks.
    assert str(Path(sys.prefix) / "etc" / "ipython") in ENV_CONFIG_DIRS


INSTALLED = Path(sys.prefix) / "etc" / "ipython" / "ipython_kernel_config.py"


@pytest.mark.skipif(
    not INSTALLED.exists(), reason=f"{INSTALLED} is not installed (pip install -e . puts it there)"
)
def test_an_installed_package_loads_the_magics_in_a_plain_kernel(
    server: Server, tmp_path: Path
) -> None:
    notebook = write_notebook(server.root / "plain.ipynb", ["print(1)"])
    for kernel in start_kernel(server, notebook, tmp_path / "fresh-ipython-dir"):
        result = kernel.run("%mofang_jobs")
        assert result["status"] == "ok", result
