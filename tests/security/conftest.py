"""Fixtures of the security and fault suite, and the tally it prints.

``backend_name`` says which job backend a test's jupyter-server runs jobs on.
A test whose promise holds for every backend is marked ``every_backend`` and
runs once per name in ``BACKENDS``; the others run on the local backend only
(their cases are the local backend's own: its limits, its replicas' argv).
:func:`backend_config` gives each backend's server settings. The Kubernetes
job backend runs on one API emulator per session, with fake operators that
really run the replicas (``tests/kubernetes/jobs_cluster.py``), and its
server gets the plan a Mofang spawner gives Alice in group vision.
docs/security.md says which backend each test covers.

Every test records how many hostile cases it tried per category with
:func:`tally`; a case that got through fails its test, so a green run means
"got through: 0". The totals are printed at the end of the run and are the
figures of docs/security.md.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from mofang_spawner.planning import PLAN_ENV, ServerPlan
from tests.jobs.conftest import Fetch, api, stop_replicas_under
from tests.kube_emulator import KubeEmulator
from tests.kubernetes import fake_katib
from tests.kubernetes.fake_operators import KINDS as JOB_OBJECT_KINDS
from tests.kubernetes.fake_operators import FakeOperators
from tests.kubernetes.jobs_cluster import NAMESPACE, NODES, vision_plan, with_claims
from tests.security.users import TokenUsers

#: Job backends the suite runs against (see the module docstring).
BACKENDS = ["local", "kubernetes"]
#: The Kubernetes backend's server belongs to Alice, in group vision.
SERVER_USER = "alice"
#: What a Mofang server's job objects and their pods carry.
MANAGED = "app.kubernetes.io/managed-by=mofang"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "every_backend: run the test once on each job backend of BACKENDS"
    )
    config.addinivalue_line("markers", "backends(*names): run the test on these job backends")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend_name" not in metafunc.fixturenames:
        return
    names = ["local"]
    if metafunc.definition.get_closest_marker("every_backend") is not None:
        names = BACKENDS
    elif (marker := metafunc.definition.get_closest_marker("backends")) is not None:
        names = list(marker.args)
    # Module scope: a module's shared server (the clients' tests) is one per backend.
    metafunc.parametrize("backend_name", names, scope="module")


_TRIED: Counter[str] = Counter()


def tally(category: str, cases: int = 1) -> None:
    """Count ``cases`` hostile cases of ``category`` as tried."""
    _TRIED[category] += cases


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _TRIED:
        return
    failed = bool(terminalreporter.stats.get("failed"))
    terminalreporter.section("security cases tried")
    for category, count in sorted(_TRIED.items()):
        through = "see failures" if failed else "0"
        terminalreporter.write_line(f"{category:<16} tried {count:>6}   got through {through}")
    known = len(terminalreporter.stats.get("xfailed", []))
    if known:
        terminalreporter.write_line(
            f"known holes, open (xfail; docs/security.md, Findings): {known}"
        )


def backend_config(
    name: str, *, root: Path | None = None, cluster: KubeEmulator | None = None
) -> dict[str, Any]:
    """Server settings that run jobs on backend ``name``, with users told apart by token.

    The Kubernetes backend needs the ``cluster`` and the server's ``root``, which the
    pods mount as the user's storage (so the fake kubelet runs replicas in the job folder).
    """
    config: dict[str, Any] = {
        "ServerApp": {
            "jpserver_extensions": {"mofang_lab": True},
            "identity_provider_class": TokenUsers,
        },
        "LocalBackend": {"poll_interval": 0.05, "stop_grace_seconds": 3},
    }
    if name == "local":
        return config
    if name != "kubernetes":
        raise LookupError(f"no settings for backend {name!r}")
    if root is None or cluster is None:
        raise ValueError("the Kubernetes backend needs the cluster and the server's root")
    config["MofangLabApp"] = {"backend_class": "mofang_lab.backends.kubernetes.KubernetesBackend"}
    config["KubernetesBackend"] = {
        "kubeconfig": str(cluster.kubeconfig),
        "namespace": NAMESPACE,
        "storage": {"home_mount_path": str(root)},
        "python": sys.executable,
        "request_timeout": 5.0,
        "retry_timeout": 5.0,
        "wait_check_interval": 0.0,
    }
    return config


def server_plan() -> ServerPlan:
    """The plan of the Kubernetes backend's server: Alice's, in group vision."""
    return vision_plan(SERVER_USER)


def trial_metrics(job: dict[str, Any]) -> dict[str, list[float]]:
    """What each trial of the fake Katib reports: the suite's sweeps maximize accuracy."""
    return {"accuracy": [0.5]}


@pytest.fixture(scope="session")
def job_cluster() -> Iterator[KubeEmulator]:
    """One API emulator for the session: the operators, Katib, the vision group's claims."""
    with KubeEmulator(nodes=NODES, run_pods=True) as kube:
        FakeOperators(kube).install()
        fake_katib.register(kube, trial_metrics)
        yield with_claims(kube)


def clear_jobs(kube: KubeEmulator) -> None:
    """Delete every Mofang job object and pod left in the namespace (the next test's is clean)."""
    for plural in [*(plural for plural, _, _ in JOB_OBJECT_KINDS.values()), "experiments", "pods"]:
        for obj in kube.list(plural, NAMESPACE, label_selector=MANAGED):
            kube.delete(plural, NAMESPACE, obj["metadata"]["name"], grace_period_seconds=0)


def objects_on(kube: KubeEmulator) -> dict[str, list[str]]:
    """Names of the Mofang job objects (of every kind) and pods in the namespace."""
    jobs = [
        obj["metadata"]["name"]
        for plural, _, _ in JOB_OBJECT_KINDS.values()
        for obj in kube.list(plural, NAMESPACE, label_selector=MANAGED)
    ]
    pods = [obj["metadata"]["name"] for obj in kube.list("pods", NAMESPACE, label_selector=MANAGED)]
    return {"jobs": sorted(jobs), "pods": sorted(pods)}


@pytest.fixture
def cluster(backend_name: str, request: pytest.FixtureRequest) -> Iterator[KubeEmulator | None]:
    """The session's emulator when the test runs on the Kubernetes backend, else None."""
    if backend_name != "kubernetes":
        yield None
        return
    kube: KubeEmulator = request.getfixturevalue("job_cluster")
    yield kube
    kube.faults.clear()
    clear_jobs(kube)


@pytest.fixture
def jp_server_config(
    backend_name: str,
    cluster: KubeEmulator | None,
    jp_root_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    if cluster is not None:
        # The Kubernetes backend submits nothing without the plan a Mofang spawner hands over.
        monkeypatch.setenv(PLAN_ENV, server_plan().to_json())
    return backend_config(backend_name, root=jp_root_dir, cluster=cluster)


@pytest.fixture(autouse=True)
def _no_replica_outlives_its_test(tmp_path: Path) -> Iterator[None]:
    yield
    stop_replicas_under(tmp_path)


async def refusal(jp_fetch: Fetch, *parts: str, **kw: Any) -> tuple[int, dict[str, Any]]:
    """Call the API expecting an error; its status and JSON body."""
    with pytest.raises(HTTPClientError) as info:
        await api(jp_fetch, *parts, **kw)
    assert info.value.response is not None, info.value
    return info.value.code, json.loads(info.value.response.body)


async def wait_state(
    jp_fetch: Fetch, job_id: str, state: str, timeout: float = 60, **kw: Any
) -> dict[str, Any]:
    """The job once it is in ``state`` (a cluster's job runs only once its pods do)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (job := await api(jp_fetch, "jobs", job_id, **kw))["state"] != state:
        assert job["state"] == "Created", job
        assert asyncio.get_running_loop().time() < deadline, job
        await asyncio.sleep(0.1)
    return job


async def wait_end(jp_fetch: Fetch, job_id: str, timeout: float, **kw: Any) -> dict[str, Any]:
    """The job once it ended; fails with its record if it has not within ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while (job := await api(jp_fetch, "jobs", job_id, **kw))["state"] not in (
        "Succeeded",
        "Failed",
        "Cancelled",
    ):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(
                f"job {job_id} is still {job['state']} after {timeout:.0f} s: {job}"
            )
        await asyncio.sleep(0.1)
    return job


def answer_of(error: HTTPClientError) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of an error answer."""
    if error.response is None:  # no answer at all: a transport failure, not a refusal
        raise error
    return error.code, json.loads(error.response.body)


def rows(database: Path, table: str) -> int:
    """Rows of ``table`` in a store that may not exist yet (0 then)."""
    if not database.exists():
        return 0
    with sqlite3.connect(database) as db:
        try:
            return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608
        except sqlite3.OperationalError:  # the file exists, the schema not yet
            return 0


def footprint(root: Path) -> dict[str, Any]:
    """What submissions leave in a user's files: records, job folders, replica state files."""
    jobs = root / "jobs"
    return {
        "jobs": rows(root / ".mofang" / "jobs.sqlite", "jobs"),
        "sweeps": rows(root / ".mofang" / "sweeps.sqlite", "sweeps"),
        "trials": rows(root / ".mofang" / "sweeps.sqlite", "trials"),
        "folders": sorted(p.name for p in jobs.iterdir()) if jobs.exists() else [],
        "replicas": sorted(str(p) for p in root.rglob(".run/*.json")),
    }
