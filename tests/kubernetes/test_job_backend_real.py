"""The Kubernetes job backend against a real cluster (skipped without one, saying why).

The same flows as ``test_job_backend.py`` (which runs them on the emulator
with fake operators), here with the real Training Operator and Volcano:

* ``KUBECONFIG``: the cluster; ``MOFANG_TEST_NAMESPACE`` its namespace
  (default ``default``), set up as ``docs/kubernetes.md`` says (the
  ``vision`` node pool and Volcano queue of ``hub-config/kubernetes``, the
  claims, the operators);
* ``MOFANG_TEST_JOBS_WORKSPACE``: a directory of this machine that *is* the
  test user's directory on the cluster's storage (a CephFS mount of the
  user's claim), so the job folders the backend writes are what the pods read;
* ``MOFANG_TEST_STORAGE``: the ``c.MofangStorage`` settings of the cluster, as
  JSON (default: the defaults).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from mofang_lab.jobs.states import JobState
from mofang_spawner.errors import NotFoundError
from mofang_spawner.planning import PLAN_ENV
from tests.jobs.notebooks import role_notebook, write_notebook
from tests.kubernetes.jobs_cluster import prepare, read_all, vision_plan, wait_until

OWNER = "mofang-test"


def real_backend_settings() -> dict[str, object]:
    kubeconfig = os.environ.get("KUBECONFIG")
    workspace = os.environ.get("MOFANG_TEST_JOBS_WORKSPACE")
    if not kubeconfig or not workspace:
        pytest.skip(
            "no real cluster: set KUBECONFIG and MOFANG_TEST_JOBS_WORKSPACE (the test user's "
            "directory on the cluster's storage, mounted here) to run the job backend against "
            "one; see docs/kubernetes.md"
        )
    return {
        "root_dir": workspace,
        "kubeconfig": kubeconfig,
        "namespace": os.environ.get("MOFANG_TEST_NAMESPACE", "default"),
        "storage": json.loads(os.environ.get("MOFANG_TEST_STORAGE") or "{}"),
    }


def test_a_python_job_and_a_cancelled_one_on_a_real_cluster(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mofang_lab.backends.kubernetes import KubernetesBackend

    settings = real_backend_settings()
    root = Path(str(settings["root_dir"]))
    monkeypatch.setenv(PLAN_ENV, vision_plan(OWNER).to_json())
    write_notebook(root / "mofang-tests" / "hello.ipynb", ["print('hello from the cluster')"])
    role_notebook(root / "mofang-tests" / "sleep.ipynb", {})

    async def main() -> None:
        backend = KubernetesBackend(**settings)
        await backend.start()
        try:
            hello = prepare(root, "mofang-tests/hello.ipynb", backend)
            job = (await backend.submit(OWNER, hello)).job
            final = await wait_until(backend, OWNER, job.id, lambda r: r.state.terminal, 600)
            assert final.state == JobState.SUCCEEDED, final
            log = await read_all(await backend.logs(OWNER, job.id, None, follow=False))
            assert "hello from the cluster" in log
            with pytest.raises(NotFoundError):
                await backend.get("someone-else", job.id)
            sleeping = prepare(
                root,
                "mofang-tests/sleep.ipynb",
                backend,
                kind="pytorch",
                roles={"Master": {"replicas": 1}, "Worker": {"replicas": 1}},
            )
            long = (await backend.submit(OWNER, sleeping)).job
            await wait_until(backend, OWNER, long.id, lambda r: r.state == JobState.RUNNING, 600)
            assert (await backend.cancel(OWNER, long.id)).state == JobState.CANCELLED
        finally:
            await backend.stop()

    asyncio.run(main())
