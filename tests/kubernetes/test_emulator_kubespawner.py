"""KubeSpawner's own reflectors (list + watch of pods and events) against the emulator.

The reflectors are created as ``KubeSpawner._start_reflector`` creates them,
on KubeSpawner's ``shared_client``, whose configuration is the process-wide
default that ``kubespawner.clients.load_config`` would set from a
kubeconfig. The requests they make are checked too, so a KubeSpawner upgrade
that changes how it lists and watches fails here first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from kubespawner.spawner import EventReflector, PodReflector

from tests.kube_emulator import KubeEmulator
from tests.kube_emulator.clients import default_configuration, load_configuration

PODS_PATH = "/api/v1/namespaces/default/pods"


def pod(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "notebook", "image": "quay.io/jupyter/base"}]},
    }


async def until(predicate: Callable[[], Any], what: str) -> None:
    for _ in range(400):
        if predicate():
            return
        await asyncio.sleep(0.025)
    raise AssertionError(f"timed out waiting for {what}")


def test_kubespawner_reflectors_follow_pods_and_events() -> None:
    with KubeEmulator() as kube:

        async def scenario() -> None:
            with default_configuration(await load_configuration(kube)):
                pods = PodReflector(namespace="default", labels={"component": "singleuser-server"})
                events = EventReflector(namespace="default", fields={"involvedObject.kind": "Pod"})
                await pods.start()
                await events.start()
                try:
                    await run_reflectors(kube, pods, events)
                finally:
                    await pods.stop()
                    await events.stop()

        asyncio.run(scenario())
        check_requests(kube)


async def run_reflectors(kube: KubeEmulator, pods: PodReflector, events: EventReflector) -> None:
    await pods.first_load_future
    kube.create(pod("jupyter-alice", component="singleuser-server"))
    kube.create(pod("unrelated", component="other"))
    await until(
        lambda: (
            pods.pods.get("default/jupyter-alice", {}).get("status", {}).get("phase") == "Running"
        ),
        "alice's pod to run",
    )
    assert "default/unrelated" not in pods.pods
    await until(
        lambda: any(
            e["involvedObject"]["name"] == "jupyter-alice" and e["reason"] == "Started"
            for e in events.events
        ),
        "alice's Started event",
    )
    assert events.events == sorted(events.events, key=lambda e: e["lastTimestamp"])

    # A dropped connection: each reflector lists again and goes on watching.
    kube.faults.drop_watches(after_events=1, times=2)
    kube.create(pod("jupyter-bob", component="singleuser-server"))
    await until(lambda: "default/jupyter-bob" in pods.pods, "bob's pod")
    kube.create(pod("jupyter-carol", component="singleuser-server"))
    await until(lambda: "default/jupyter-carol" in pods.pods, "carol's pod after the drop")

    kube.delete("pods", "default", "jupyter-alice")
    await until(lambda: "default/jupyter-alice" not in pods.pods, "alice's pod to go")


def check_requests(kube: KubeEmulator) -> None:
    """The list and watch requests KubeSpawner 7's reflector makes."""
    pod_requests = [r for r in kube.requests if r.path == PODS_PATH]
    lists = [r for r in pod_requests if "watch" not in r.query]
    watches = [r for r in pod_requests if "watch" in r.query]
    assert lists[0].method == "GET"
    assert lists[0].query["labelSelector"] == ["component=singleuser-server"]
    assert "resourceVersion" not in lists[0].query
    assert lists[1].query["resourceVersion"] == ["0"]
    assert lists[1].query["resourceVersionMatch"] == ["NotOlderThan"]
    assert len(watches) >= 2  # watched again after the dropped connection
    for request in watches:
        assert request.query["watch"] == ["True"]
        assert request.query["labelSelector"] == ["component=singleuser-server"]
        assert request.query["timeoutSeconds"] == ["10"]
        assert request.query["resourceVersion"][0].isdigit()
    event_watches = [
        r
        for r in kube.requests
        if r.path == "/api/v1/namespaces/default/events" and "watch" in r.query
    ]
    assert event_watches[0].query["fieldSelector"] == ["involvedObject.kind=Pod"]
