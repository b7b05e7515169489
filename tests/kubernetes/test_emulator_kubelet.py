"""The fake kubelet running pods as local processes, seen through the real client."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes_asyncio.client import CoreV1Api

from tests.kube_emulator import KubeEmulator
from tests.kube_emulator.clients import kubernetes_client


@pytest.fixture
def kube() -> Iterator[KubeEmulator]:
    with KubeEmulator(run_pods=True) as emulator:
        yield emulator


def python_pod(name: str, code: str, **container: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": "Never",
            "containers": [
                {
                    "name": "main",
                    "image": "python:3.11",
                    "command": [sys.executable, "-u", "-c", code],
                    **container,
                }
            ],
        },
    }


def server_pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "containers": [
                {
                    "name": "server",
                    "image": "python:3.11",
                    "command": [sys.executable, "-m", "http.server"],
                    "args": ["--bind", "0.0.0.0", "8888"],
                    "ports": [{"containerPort": 8888}],
                }
            ]
        },
    }


def phase(kube: KubeEmulator, name: str) -> str:
    return str(kube.get("pods", "default", name).get("status", {}).get("phase"))


def reasons(kube: KubeEmulator, name: str) -> list[str]:
    events = kube.list("events", "default", field_selector=f"involvedObject.name={name}")
    return [
        e["reason"] for e in sorted(events, key=lambda e: int(e["metadata"]["resourceVersion"]))
    ]


def answer(ip: str, port: int) -> int:
    """GET / on ip:port, retrying while the server is still starting to listen."""

    def get() -> int | None:
        try:
            with urllib.request.urlopen(f"http://{ip}:{port}/", timeout=2) as response:
                return int(response.status)
        except OSError:
            return None

    for _ in range(200):
        status = get()
        if status is not None:
            return status
        time.sleep(0.05)
    raise AssertionError(f"nothing answered on {ip}:{port}")


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent to reap it does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_server_pods_run_on_their_own_ip_with_a_complete_status(kube: KubeEmulator) -> None:
    async def scenario() -> list[Any]:
        async with kubernetes_client(kube) as api:
            v1 = CoreV1Api(api)
            for name in ("one", "two"):
                await v1.create_namespaced_pod("default", server_pod(name))
            return [await v1.read_namespaced_pod(name, "default") for name in ("one", "two")]

    asyncio.run(scenario())
    for name in ("one", "two"):
        kube.wait_for(lambda n=name: phase(kube, n) == "Running")
    one, two = (kube.get("pods", "default", name) for name in ("one", "two"))
    assert one["status"]["podIP"] != two["status"]["podIP"]
    for pod in (one, two):
        ip = pod["status"]["podIP"]
        assert ip.startswith("127.") and int(ip.rsplit(".", 1)[1]) >= 2
        assert answer(ip, 8888) == 200  # 0.0.0.0 became the pod's own IP
        status = pod["status"]
        assert pod["spec"]["nodeName"] == "node-1" and status["hostIP"]
        conditions = {c["type"]: c["status"] for c in status["conditions"]}
        for kind in ("PodScheduled", "Initialized", "ContainersReady", "Ready"):
            assert conditions[kind] == "True"
        (container,) = status["containerStatuses"]
        assert container["name"] == "server" and container["ready"] and container["started"]
        assert container["restartCount"] == 0 and container["image"] == "python:3.11"
        assert container["imageID"] and container["containerID"].startswith("containerd://")
        assert container["state"]["running"]["startedAt"]
    assert reasons(kube, "one") == ["Scheduled", "Pulling", "Pulled", "Created", "Started"]


def test_exit_codes_end_the_pod(kube: KubeEmulator) -> None:
    kube.create(python_pod("ok", "print('done')"))
    kube.create(python_pod("broken", "import sys; sys.exit(3)"))
    kube.wait_for(lambda: phase(kube, "ok") == "Succeeded")
    kube.wait_for(lambda: phase(kube, "broken") == "Failed")
    ok = kube.get("pods", "default", "ok")["status"]["containerStatuses"][0]["state"]
    broken = kube.get("pods", "default", "broken")["status"]["containerStatuses"][0]["state"]
    assert ok["terminated"]["exitCode"] == 0 and ok["terminated"]["reason"] == "Completed"
    assert broken["terminated"]["exitCode"] == 3 and broken["terminated"]["reason"] == "Error"


def test_environment_arguments_and_working_directory(kube: KubeEmulator, tmp_path: Any) -> None:
    kube.create(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds"},
            "stringData": {"token": "t0ken"},
        }
    )
    code = (
        "import json, os, sys; print(json.dumps({'env': dict(os.environ), "
        "'argv': sys.argv[1:], 'cwd': os.getcwd()}))"
    )
    kube.create(
        python_pod(
            "env",
            code,
            args=["--listen", "0.0.0.0:9000", "$(GREETING)"],
            workingDir=str(tmp_path),
            env=[
                {"name": "GREETING", "value": "hello"},
                {"name": "BIND", "value": "http://0.0.0.0:8888"},
                {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                {"name": "POD_NS", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
                {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
                {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
            ],
        )
    )
    kube.wait_for(lambda: phase(kube, "env") == "Succeeded")

    async def logs() -> str:
        async with kubernetes_client(kube) as api:
            # Raw: the client's "str" deserialisation would parse JSON output.
            response = await CoreV1Api(api).read_namespaced_pod_log(
                "env", "default", _preload_content=False
            )
            return str((await response.read()).decode())

    seen = json.loads(asyncio.run(logs()))
    ip = kube.get("pods", "default", "env")["status"]["podIP"]
    env = seen["env"]
    assert (env["POD_IP"], env["POD_NAME"], env["POD_NS"], env["NODE"]) == (
        ip,
        "env",
        "default",
        "node-1",
    )
    assert env["BIND"] == f"http://{ip}:8888" and env["TOKEN"] == "t0ken"
    assert seen["argv"] == ["--listen", f"{ip}:9000", "hello"]
    assert seen["cwd"] == str(tmp_path)


def test_delete_stops_the_process_group_then_the_pod_goes(kube: KubeEmulator) -> None:
    family = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        "print(child.pid)\n"
        "time.sleep(60)"
    )
    stubborn = (
        "import signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ignoring SIGTERM')\n"
        "time.sleep(60)"
    )
    kube.create(python_pod("family", family))
    kube.create(python_pod("stubborn", stubborn))
    kube.patch("pods", "default", "stubborn", {"spec": {"terminationGracePeriodSeconds": 1}})
    for name in ("family", "stubborn"):
        kube.wait_for(lambda n=name: phase(kube, n) == "Running")
    pids = [kube.pod_process_id("default", name) for name in ("family", "stubborn")]

    async def first_line(name: str) -> str:
        async with kubernetes_client(kube) as api:
            return str(await CoreV1Api(api).read_namespaced_pod_log(name, "default"))

    kube.wait_for(lambda: asyncio.run(first_line("family")).strip())
    kube.wait_for(lambda: asyncio.run(first_line("stubborn")).strip())
    pids.append(int(asyncio.run(first_line("family"))))
    assert all(pid and alive(pid) for pid in pids)

    marked = kube.delete("pods", "default", "family")
    assert marked["metadata"]["deletionTimestamp"]  # graceful: the object stays for now
    kube.delete("pods", "default", "stubborn")
    kube.wait_for(lambda: kube.find("pods", "default", "family") is None)
    kube.wait_for(lambda: kube.find("pods", "default", "stubborn") is None)
    for pid in pids:
        assert pid is not None
        kube.wait_for(lambda p=pid: not alive(p))  # the grandchild is reaped by init
    assert "Killing" in reasons(kube, "stubborn")


def test_logs_tail_and_follow(kube: KubeEmulator) -> None:
    code = "import time\nfor i in range(5):\n    print('line', i)\n    time.sleep(0.05)"
    kube.create(python_pod("talker", code))
    kube.wait_for(lambda: phase(kube, "talker") in ("Running", "Succeeded"))

    async def scenario() -> tuple[str, str]:
        async with kubernetes_client(kube) as api:
            v1 = CoreV1Api(api)
            response = await v1.read_namespaced_pod_log(
                "talker", "default", follow=True, _preload_content=False
            )
            followed = (await response.read()).decode()
            tail = await v1.read_namespaced_pod_log("talker", "default", tail_lines=2)
            return followed, str(tail)

    followed, tail = asyncio.run(scenario())
    assert followed.splitlines() == [f"line {i}" for i in range(5)]
    assert tail.splitlines() == ["line 3", "line 4"]
    assert phase(kube, "talker") == "Succeeded"  # follow ended when the process did


def test_failures_before_the_process_starts(kube: KubeEmulator) -> None:
    kube.create(
        python_pod(
            "nosecret",
            "print(1)",
            env=[{"name": "T", "valueFrom": {"secretKeyRef": {"name": "absent", "key": "k"}}}],
        )
    )
    kube.create(
        {
            **python_pod("nocommand", ""),
            "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "x", "command": ["/no/such/binary"]}],
            },
        }
    )
    kube.wait_for(lambda: phase(kube, "nocommand") == "Failed")
    kube.wait_for(lambda: "Failed" in reasons(kube, "nosecret"))
    waiting = kube.get("pods", "default", "nosecret")["status"]["containerStatuses"][0]["state"]
    assert waiting["waiting"]["reason"] == "CreateContainerConfigError"
    assert phase(kube, "nosecret") == "Pending"
    terminated = kube.get("pods", "default", "nocommand")["status"]["containerStatuses"][0]
    assert terminated["state"]["terminated"]["reason"] == "StartError"
    assert terminated["state"]["terminated"]["exitCode"] == 128


def test_the_run_annotation_switches_processes_per_pod(kube: KubeEmulator) -> None:
    pod = python_pod("quiet", "import time; time.sleep(60)")
    pod["metadata"]["annotations"] = {"emulator.mofang.io/run": "false"}
    kube.create(pod)
    kube.wait_for(lambda: phase(kube, "quiet") == "Running")
    assert kube.pod_process_id("default", "quiet") is None
    with KubeEmulator(run_pods=False) as other:
        pod = python_pod("loud", "print('ran')")
        pod["metadata"]["annotations"] = {"emulator.mofang.io/run": "true"}
        other.create(pod)
        plain = python_pod("plain", "print('ran')")
        other.create(plain)
        other.wait_for(lambda: phase(other, "loud") == "Succeeded")
        other.wait_for(lambda: phase(other, "plain") == "Running")
        assert other.pod_process_id("default", "plain") is None
