"""Sweeps on a cluster end to end: the REST API of a real server whose job backend is the
Kubernetes one, the emulator, and a fake Katib whose trials run the sweep's real program.

A sweep becomes one Experiment; Katib's Trials become the sweep's trials, with the
values they ran with and what they reported; cancel deletes the Experiment; a server
restarted in the middle of a sweep reads it back; another user sees nothing of it.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from tornado.httpclient import HTTPClientError

from mofang_lab.sweeps import parse_metrics
from mofang_lab.sweeps.cluster import KatibSweepService
from mofang_lab.sweeps.katib.experiment import experiment_name
from mofang_lab.sweeps.records import SweepRecord, SweepState, TrialState
from mofang_lab.sweeps.request import SweepRequest
from mofang_spawner.planning import PLAN_ENV
from tests.jobs.conftest import Fetch, TokenUsers, api, server_config
from tests.jobs.notebooks import write_notebook
from tests.kube_emulator import KubeEmulator
from tests.kubernetes.fake_katib import EXPERIMENT_LABEL, FakeKatib, register
from tests.kubernetes.fake_operators import install_operator_crds
from tests.kubernetes.jobs_cluster import NAMESPACE, backend_on, vision_plan
from tests.kubernetes.test_katib_emulator import PARAMETERS, TRAINING, expected_accuracy
from tests.sweeps.conftest import wait_sweep

ALICE = {"Authorization": "token alice-token"}
BOB = {"Authorization": "token bob-token"}


def run_job(job: dict[str, Any]) -> dict[str, list[float]] | None:
    """Run the trial's job as its pod would: its command, folder and environment."""
    container = job["spec"]["template"]["spec"]["containers"][0]
    env = {item["name"]: item["value"] for item in container.get("env", []) if "value" in item}
    done = subprocess.run(
        [*container["command"], *container.get("args", [])],
        cwd=container["workingDir"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        return None
    reports: dict[str, list[float]] = {}
    for report in parse_metrics(done.stdout.splitlines(), ["accuracy", "loss"]):
        reports.setdefault(report.name, []).append(report.value)
    return reports


def sweep_body(**settings: Any) -> dict[str, Any]:
    return {
        "notebook": "train.ipynb",
        "settings": {
            "parameters": [
                {
                    "type": "double",
                    "name": "lr",
                    "min": 1e-4,
                    "max": 1.0,
                    "distribution": "logUniform",
                },
                {"type": "categorical", "name": "opt", "values": ["adam", "sgd"]},
            ],
            "objective": {"type": "maximize", "metric": "accuracy", "additional_metrics": ["loss"]},
            "algorithm": {"name": "random"},
            "parallel_trials": 2,
            "max_trials": 4,
            "max_failed_trials": 0,
            **settings,
        },
        "trial": {"parameters": {"epochs": 2}},
    }


def backend_settings(kube: KubeEmulator, root: Path, kubeconfig: Path) -> dict[str, Any]:
    kube.write_kubeconfig(kubeconfig)
    return {
        "kubeconfig": str(kubeconfig),
        "namespace": NAMESPACE,
        "storage": {"home_mount_path": str(root)},
        "python": sys.executable,
        "request_timeout": 5.0,
        "retry_timeout": 2.0,
        "wait_check_interval": 0.0,
    }


@pytest.fixture
def hold() -> bool:
    """Whether the fake Katib keeps new trials Running until released."""
    return False


@pytest.fixture
def katib(hold: bool) -> Iterator[tuple[KubeEmulator, FakeKatib]]:
    with KubeEmulator(kubelet=False) as kube:
        install_operator_crds(kube)  # the job backend watches its kinds beside the sweeps
        yield kube, register(kube, run_job, hold=hold)


@pytest.fixture
def jp_server_config(
    katib: tuple[KubeEmulator, FakeKatib],
    jp_root_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    monkeypatch.setenv(PLAN_ENV, vision_plan("alice").to_json())
    config = server_config()
    config["ServerApp"]["identity_provider_class"] = TokenUsers
    config["MofangLabApp"] = {"backend_class": "mofang_lab.backends.kubernetes.KubernetesBackend"}
    config["KubernetesBackend"] = backend_settings(katib[0], jp_root_dir, tmp_path / "kubeconfig")
    config["KatibSweepService"] = {"resync_interval": 0.1}
    return config


@pytest.fixture
def notebook(jp_root_dir: Path) -> Path:
    return write_notebook(jp_root_dir / "train.ipynb", [(PARAMETERS, ["parameters"]), TRAINING])


async def error_of(jp_fetch: Fetch, *parts: str, **kw: Any) -> tuple[int, str]:
    with pytest.raises(HTTPClientError) as info:
        await api(jp_fetch, *parts, **kw)
    assert info.value.response is not None
    return info.value.code, json.loads(info.value.response.body)["message"]


async def running_trials(jp_fetch: Fetch, sweep_id: str, count: int) -> dict[str, Any]:
    """The sweep once ``count`` of its trials run (checked every 0.1 s; a generous limit)."""
    for _ in range(600):
        sweep: dict[str, Any] = await api(jp_fetch, "sweeps", sweep_id, headers=ALICE)
        if sum(t["state"] == "Running" for t in sweep["trials"]) >= count:
            return sweep
        await asyncio.sleep(0.1)
    raise AssertionError(f"sweep {sweep_id} never had {count} running trials: {sweep}")


def parameters_cell(path: Path) -> str:
    book = nbformat.read(path, as_version=4)
    return str(next(c for c in book.cells if "parameters" in c.metadata.get("tags", [])).source)


async def test_a_sweep_is_one_experiment_whose_trials_and_best_trial_it_reports(
    jp_fetch: Fetch,
    jp_root_dir: Path,
    notebook: Path,
    katib: tuple[KubeEmulator, FakeKatib],
) -> None:
    kube, fake = katib
    dry = await api(
        jp_fetch, "sweeps", method="POST", body={**sweep_body(), "dry_run": True}, headers=ALICE
    )
    assert dry["backend"] == "kubernetes" and [o["kind"] for o in dry["objects"]] == ["Experiment"]
    assert kube.list("experiments", NAMESPACE) == []  # a dry run creates nothing

    created = await api(jp_fetch, "sweeps", method="POST", body=sweep_body(), headers=ALICE)
    assert created["state"] == "Running" and created["name"] == "train"
    sweep_id = created["id"]
    experiment = kube.get("experiments", NAMESPACE, sweep_id)
    assert experiment["metadata"]["labels"]["mofang.io/sweep-id"] == sweep_id
    # The snapshot is written once, with the fixed values; trials share it.
    folder = jp_root_dir / "jobs" / sweep_id
    assert json.loads((folder / "spec.json").read_text())["parameters"] == {"epochs": 2}

    sweep = await wait_sweep(jp_fetch, sweep_id, headers=ALICE)
    assert (sweep["state"], sweep["reason"]) == ("Succeeded", "MaxTrialsReached"), sweep
    trials = sweep["trials"]
    assert [t["number"] for t in trials] == [0, 1, 2, 3]
    assert {t["state"] for t in trials} == {"Succeeded"}
    katib_trials = kube.list("trials", NAMESPACE, label_selector=f"{EXPERIMENT_LABEL}={sweep_id}")
    assert {t["job_id"] for t in trials} == {t["metadata"]["name"] for t in katib_trials}
    for trial in trials:
        lr, opt = trial["parameters"]["lr"], trial["parameters"]["opt"]
        # The trial's program ran with the trial's values: what it reported says so.
        assert trial["objective"] == pytest.approx(expected_accuracy(lr, opt), rel=1e-12)
    for job in fake.jobs:
        workdir = job["spec"]["template"]["spec"]["containers"][0]["workingDir"]
        assert Path(workdir) == folder
    best = max(trials, key=lambda t: t["objective"])
    assert sweep["best"] == {
        "number": best["number"],
        "parameters": best["parameters"],
        "objective": best["objective"],
    }
    listed = (await api(jp_fetch, "sweeps", headers=ALICE))["sweeps"]
    assert [s["id"] for s in listed] == [sweep_id] and listed[0]["counts"] == {"Succeeded": 4}

    applied = await api(
        jp_fetch,
        "sweeps",
        sweep_id,
        "apply-best",
        method="POST",
        body={"notebook": "train.ipynb"},
        headers=ALICE,
    )
    assert applied["parameters"] == best["parameters"]
    cell = parameters_cell(notebook)
    assert f"lr = {best['parameters']['lr']!r}" in cell
    assert f"opt = {best['parameters']['opt']!r}" in cell


@pytest.mark.parametrize("hold", [True])
async def test_cancel_deletes_the_experiment_and_another_user_sees_nothing(
    jp_fetch: Fetch, notebook: Path, katib: tuple[KubeEmulator, FakeKatib]
) -> None:
    kube, fake = katib
    created = await api(jp_fetch, "sweeps", method="POST", body=sweep_body(), headers=ALICE)
    sweep_id = created["id"]
    sweep = await running_trials(jp_fetch, sweep_id, 2)
    assert len(sweep["trials"]) == 2 and sweep["state"] == "Running"

    for parts, method in (((sweep_id,), "GET"), ((sweep_id, "cancel"), "POST")):
        code, message = await error_of(jp_fetch, "sweeps", *parts, method=method, headers=BOB)
        assert code == 404 and sweep_id in message
    code, _message = await error_of(
        jp_fetch,
        "sweeps",
        sweep_id,
        "apply-best",
        method="POST",
        body={"notebook": "train.ipynb"},
        headers=BOB,
    )
    assert code == 404
    assert (await api(jp_fetch, "sweeps", headers=BOB))["sweeps"] == []
    assert kube.find("experiments", NAMESPACE, sweep_id) is not None  # bob changed nothing

    cancelled = await api(jp_fetch, "sweeps", sweep_id, "cancel", method="POST", headers=ALICE)
    assert (cancelled["state"], cancelled["reason"]) == ("Cancelled", "Cancelled")
    assert [t["state"] for t in cancelled["trials"]] == ["Cancelled", "Cancelled"]

    def gone() -> bool:
        selector = f"{EXPERIMENT_LABEL}={sweep_id}"
        return (
            kube.find("experiments", NAMESPACE, sweep_id) is None
            and not kube.list("trials", NAMESPACE, label_selector=selector)
            and not kube.list("jobs", NAMESPACE)
        )

    await asyncio.to_thread(kube.wait_for, gone, 30)
    fake.release(kube)  # nothing is left to run
    await asyncio.sleep(0.3)  # several resyncs: the cancelled sweep stays as it was
    again = await api(jp_fetch, "sweeps", sweep_id, "cancel", method="POST", headers=ALICE)
    assert again == cancelled


async def test_the_same_idempotency_key_twice_makes_one_experiment(
    jp_fetch: Fetch, notebook: Path, katib: tuple[KubeEmulator, FakeKatib]
) -> None:
    kube, _fake = katib
    body = {**sweep_body(), "idempotency_key": "sweep-1"}
    first = await jp_fetch(
        "mofang", "api", "sweeps", method="POST", body=json.dumps(body), headers=ALICE
    )
    second = await jp_fetch(
        "mofang", "api", "sweeps", method="POST", body=json.dumps(body), headers=ALICE
    )
    assert (first.code, second.code) == (201, 200)
    assert json.loads(first.body)["id"] == json.loads(second.body)["id"]
    assert len(kube.list("experiments", NAMESPACE)) == 1
    other = {**sweep_body(max_trials=3), "idempotency_key": "sweep-1"}
    code, message = await error_of(jp_fetch, "sweeps", method="POST", body=other, headers=ALICE)
    assert code == 409 and "different request" in message
    assert len(kube.list("experiments", NAMESPACE)) == 1


async def test_a_refused_experiment_fails_the_sweep_with_the_clusters_message(
    jp_fetch: Fetch, notebook: Path, katib: tuple[KubeEmulator, FakeKatib]
) -> None:
    kube, _fake = katib
    kube.faults.fail(
        "POST", path=".*/experiments", status=422, times=None, message="spec.parameters: bad"
    )
    code, message = await error_of(
        jp_fetch, "sweeps", method="POST", body=sweep_body(), headers=ALICE
    )
    assert code == 400 and "spec.parameters: bad" in message
    (sweep,) = (await api(jp_fetch, "sweeps", headers=ALICE))["sweeps"]
    assert (sweep["state"], sweep["reason"]) == ("Failed", "CreateFailed")
    assert "spec.parameters: bad" in sweep["message"]


def test_a_server_restarted_mid_sweep_reads_the_sweep_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ann"
    write_notebook(root / "train.ipynb", [(PARAMETERS, ["parameters"]), TRAINING])
    request = SweepRequest.model_validate(sweep_body())

    async def service_on(kube: KubeEmulator) -> Any:
        return backend_on(kube, root, vision_plan(), monkeypatch, retry_timeout=2.0)

    async def main(kube: KubeEmulator, fake: FakeKatib) -> None:
        async with await service_on(kube) as backend:
            service = KatibSweepService(backend=backend, resync_interval=0.1)
            created, new = await service.create("ann", request)  # type: ignore[misc]
            assert new
            before = await wait_for_sweep(
                service, created.id, lambda s: s.counts.get(TrialState.RUNNING) == 2
            )
            await service.stop()
        # While no server watches, the trials finish and the Experiment ends.
        await asyncio.to_thread(fake.release, kube)
        await asyncio.to_thread(kube.wait_for, lambda: ended(kube, created.id), 60)
        async with await service_on(kube) as backend:
            service = KatibSweepService(backend=backend, resync_interval=60)
            await service.start()  # no watch event or resync needed: start reads it back
            after = await service.get("ann", created.id)
            await service.stop()
        assert (after.state, after.reason) == (SweepState.SUCCEEDED, "MaxTrialsReached")
        assert [t.number for t in after.trials] == [0, 1, 2, 3]
        # The trials seen before the restart keep their numbers.
        assert [t.job_id for t in after.trials[:2]] == [t.job_id for t in before.trials]
        assert all(t.state == TrialState.SUCCEEDED for t in after.trials)
        assert after.best is not None
        assert after.best.objective == max(t.objective or 0 for t in after.trials)

    with KubeEmulator(kubelet=False) as kube:
        install_operator_crds(kube)
        fake = register(kube, run_job, hold=True)
        asyncio.run(main(kube, fake))


def test_a_sweep_stored_but_never_created_is_created_when_the_server_restarts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ann"
    write_notebook(root / "train.ipynb", [(PARAMETERS, ["parameters"]), TRAINING])
    request = SweepRequest.model_validate(sweep_body())

    async def stopped_before_the_create(self: Any, *args: Any) -> None:
        return None  # the server went down after storing the sweep, before the create

    async def main(kube: KubeEmulator) -> None:
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            service = KatibSweepService(backend=backend, resync_interval=0.1)
            with monkeypatch.context() as patched:
                patched.setattr(KatibSweepService, "_launch", stopped_before_the_create)
                created, new = await service.create("ann", request)  # type: ignore[misc]
            await service.stop()
        assert new and kube.list("experiments", NAMESPACE) == []
        assert not (root / "jobs" / created.id).exists()
        async with backend_on(kube, root, vision_plan(), monkeypatch) as backend:
            service = KatibSweepService(backend=backend, resync_interval=0.1)
            await service.start()
            after = await wait_for_sweep(service, created.id, lambda s: s.state.terminal)
            await service.stop()
        assert (after.state, after.reason) == (SweepState.SUCCEEDED, "MaxTrialsReached")
        assert [t.number for t in after.trials] == [0, 1, 2, 3]
        experiments = kube.list("experiments", NAMESPACE)
        assert [e["metadata"]["name"] for e in experiments] == [experiment_name(created.id)]
        assert (root / "jobs" / created.id / "program.py").is_file()

    with KubeEmulator(kubelet=False) as kube:
        install_operator_crds(kube)
        register(kube, run_job)
        asyncio.run(main(kube))


def ended(kube: KubeEmulator, name: str) -> bool:
    conditions = (kube.get("experiments", NAMESPACE, name).get("status") or {}).get(
        "conditions"
    ) or []
    return any(c["type"] in ("Succeeded", "Failed") and c["status"] == "True" for c in conditions)


async def wait_for_sweep(
    service: KatibSweepService, sweep_id: str, done: Any, timeout: float = 60
) -> SweepRecord:
    for _ in range(int(timeout / 0.05)):
        record = await service.get("ann", sweep_id)
        if done(record):
            return record
        await asyncio.sleep(0.05)
    raise AssertionError(f"sweep {sweep_id}: {record}")
