"""The one API module: what is retried, what is final, and the message each failure gives.

A scripted stand-in for the generated client answers each call from a list
of (status, body) replies; the real HTTP path is covered through the
Kubernetes API emulator.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from mofang_spawner.errors import (
    ConfigurationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PolicyError,
)
from mofang_spawner.kubernetes.cluster import Cluster, ClusterUnavailableError, translate


class Reply:
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.reason = "Reason"
        self.headers = headers or {}
        self._data = json.dumps(body).encode()

    async def read(self) -> bytes:
        return self._data

    def release(self) -> None:
        pass


class ScriptedApi:
    """Answers every method with the next scripted reply ("hang": never answers)."""

    def __init__(self, *replies: Reply | str) -> None:
        self.replies = list(replies)
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        async def method(*args: Any, **kwargs: Any) -> Reply:
            self.calls.append((name, args, kwargs))
            reply = self.replies.pop(0)
            if reply == "hang":
                await asyncio.sleep(60)
            assert isinstance(reply, Reply)
            return reply

        return method


def status(code: int, message: str) -> Reply:
    return Reply(code, {"kind": "Status", "code": code, "message": message})


def cluster(api: ScriptedApi, retry_timeout: float = 2.0) -> Cluster:
    return Cluster(api, "ns", request_timeout=0.2, retry_timeout=retry_timeout)


POD = {"metadata": {"name": "jupyter-alice"}}


def test_transient_failures_are_retried_until_the_answer() -> None:
    api = ScriptedApi(
        status(500, "etcd leader changed"),
        "hang",
        Reply(429, {}, {"Retry-After": "0"}),
        status(503, "unavailable"),
        Reply(201, {"metadata": {"name": "jupyter-alice", "uid": "u"}}),
    )
    created = asyncio.run(cluster(api).create_pod(POD))
    assert created["metadata"]["uid"] == "u"
    assert [c[0] for c in api.calls] == ["create_namespaced_pod"] * 5
    assert all(c[2]["_preload_content"] is False for c in api.calls)


def test_dry_run_asks_the_server_not_to_persist() -> None:
    api = ScriptedApi(Reply(201, POD))
    asyncio.run(cluster(api).create_pod(POD, dry_run=True))
    assert api.calls[0][2]["dry_run"] == "All"


def test_retrying_stops_at_the_retry_timeout() -> None:
    api = ScriptedApi(*[status(500, "boom")] * 50)
    with pytest.raises(ClusterUnavailableError) as caught:
        asyncio.run(cluster(api, retry_timeout=0.3).list_pods("a=b"))
    assert "could not list the group's pods (500: boom)" in caught.value.message
    assert isinstance(caught.value.__cause__, ApiException)


@pytest.mark.parametrize(
    ("reply", "error", "words"),
    [
        (
            status(403, 'pods "p" is forbidden: exceeded quota: team, requested: nvidia.com/gpu=1'),
            PolicyError,
            "The namespace's resource quota does not allow this server",
        ),
        (
            status(400, 'admission webhook "policy.example.com" denied the request: no GPUs'),
            PolicyError,
            "The cluster's admission policy refused this server",
        ),
        (
            status(403, 'pods is forbidden: User "system:serviceaccount:ns:hub" cannot create'),
            ConfigurationError,
            "The hub is not allowed to create the server's pod",
        ),
        (
            status(422, 'Pod "p" is invalid: spec.containers[0].image: Required value'),
            InvalidRequestError,
            "rejected the request to create the server's pod as invalid",
        ),
        (status(404, 'namespaces "ns" not found'), NotFoundError, "namespaces"),
    ],
)
def test_final_failures_are_not_retried_and_say_what_to_do(
    reply: Reply, error: type[Exception], words: str
) -> None:
    api = ScriptedApi(reply, Reply(201, POD))
    with pytest.raises(error, match=words):
        asyncio.run(cluster(api).create_pod(POD))
    assert len(api.calls) == 1


def test_conflicts_and_absences_that_are_fine() -> None:
    api = ScriptedApi(status(409, "exists"), status(404, "gone"), status(404, "gone"))
    c = cluster(api)
    assert asyncio.run(c.create_claim({"metadata": {"name": "mofang-home-a"}})) is False
    asyncio.run(c.delete_pod("p"))
    assert asyncio.run(c.read_pod("p")) is None
    with pytest.raises(ConflictError):
        asyncio.run(cluster(ScriptedApi(status(409, "exists"))).create_pod(POD))


def test_translate_is_the_one_place_api_errors_become_mofang_errors() -> None:
    error = ApiException(status=0, reason="connection refused")
    translated = translate(error, "list pods")
    assert isinstance(translated, ClusterUnavailableError)
    assert translated.message == (
        "The Kubernetes API could not list pods (no answer: connection refused). Try again in "
        "a minute; if it persists, tell an administrator."
    )


def test_a_leftover_pod_is_deleted_later_by_its_uid_until_it_is_gone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("mofang_spawner.kubernetes.cluster.LEFTOVER_PAUSES", (0.01, 0.02))
    # Each try retries for 0.3 s: two tries fail, the third is answered.
    api = ScriptedApi(*[status(503, "unavailable")] * 30, Reply(200, {}))

    async def later() -> None:
        c = cluster(api, retry_timeout=0.3)
        c.delete_pod_later("jupyter-alice", uid="u1", grace_period_seconds=1)

        async def answered() -> None:
            while api.replies:
                await asyncio.sleep(0.05)

        await asyncio.wait_for(answered(), 10)
        await asyncio.sleep(0.1)

    asyncio.run(later())
    assert {c[0] for c in api.calls} == {"delete_namespaced_pod"}
    assert all(c[1] == ("jupyter-alice", "ns") for c in api.calls)
    assert all(c[2]["body"] == {"preconditions": {"uid": "u1"}} for c in api.calls)
    assert all(c[2]["grace_period_seconds"] == 1 for c in api.calls)


def test_a_new_pod_of_the_same_name_is_not_deleted_later(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mofang_spawner.kubernetes.cluster.LEFTOVER_PAUSES", (0.01, 0.02))
    # The API refuses the precondition (409): the pod of that uid is gone, another took its
    # name. No further try.
    api = ScriptedApi(status(409, "Precondition failed: UID in precondition: u1"), Reply(200, {}))

    async def later() -> None:
        cluster(api).delete_pod_later("jupyter-alice", uid="u1")
        await asyncio.sleep(0.3)

    asyncio.run(later())
    assert len(api.calls) == 1


def test_a_leftover_pod_of_unknown_uid_is_read_first(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("mofang_spawner.kubernetes.cluster.LEFTOVER_PAUSES", (0.01, 0.02))
    api = ScriptedApi(
        Reply(200, {"metadata": {"name": "jupyter-alice", "uid": "u2"}}), Reply(200, {})
    )

    async def later() -> None:
        cluster(api).delete_pod_later("jupyter-alice", uid=None)
        await asyncio.sleep(0.3)

    asyncio.run(later())
    assert [c[0] for c in api.calls] == ["read_namespaced_pod", "delete_namespaced_pod"]
    assert api.calls[1][2]["body"] == {"preconditions": {"uid": "u2"}}


@pytest.mark.parametrize(
    "message",
    [
        'admission webhook "quota.example" denied the request: no more GPUs',
        "pods \"jupyter-alice\" is forbidden: ValidatingAdmissionPolicy 'mofang-jobs-guard' "
        "with binding 'mofang-jobs-guard' denied request: claim not entitled",
    ],
)
def test_an_admission_refusal_is_a_policy_error_not_missing_rights(message: str) -> None:
    from mofang_lab.backends.kubernetes.client import translate as translate_for_jobs
    from mofang_spawner.errors import PolicyError

    error = ApiException(status=403, reason="Forbidden")
    error.body = json.dumps({"kind": "Status", "message": message}).encode()
    for translated in (translate(error, "create the pod"), translate_for_jobs(error, "create")):
        assert isinstance(translated, PolicyError)
        assert message in translated.message
