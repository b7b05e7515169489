"""Leaving the emulator leaves nothing behind: no process, no thread, no open port, no files."""

from __future__ import annotations

import socket
import sys
import threading
from pathlib import Path
from typing import Any

import requests

from tests.kube_emulator import KubeEmulator
from tests.kube_emulator.emulator import pids_of_closed_emulators


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent to reap it does not)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def python_pod(name: str, code: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "terminationGracePeriodSeconds": 30,
            "containers": [
                {
                    "name": "main",
                    "image": "python:3.11",
                    "command": [sys.executable, "-u", "-c", code],
                }
            ],
        },
    }


FAMILY = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
    "print(child.pid)\n"
    "time.sleep(120)"
)
STUBBORN = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('ignoring SIGTERM')\n"
    "time.sleep(120)"
)


def test_closing_stops_processes_streams_and_the_server_thread() -> None:
    watch_lines: list[bytes] = []
    with KubeEmulator(run_pods=True) as kube:
        kube.create(python_pod("family", FAMILY))
        kube.create(python_pod("stubborn", STUBBORN))
        for name in ("family", "stubborn"):
            kube.wait_for(lambda n=name: kube.pod_process_id("default", n))
        log = f"{kube.url}/api/v1/namespaces/default/pods/family/log"
        grandchild = kube.wait_for(lambda: requests.get(log, timeout=5).text.strip())
        pids = [kube.pod_process_id("default", n) for n in ("family", "stubborn")]
        pids.append(int(grandchild))
        assert all(pid and alive(pid) for pid in pids)

        # A client still watching when the emulator closes.
        response = requests.get(
            f"{kube.url}/api/v1/namespaces/default/pods?watch=true", stream=True, timeout=30
        )

        def read() -> None:
            for line in response.iter_lines():
                watch_lines.append(line)

        reader = threading.Thread(target=read)
        reader.start()
        root = Path(str(kube.kubeconfig)).parent
        port = int(kube.url.rsplit(":", 1)[1])
        server_threads = [t for t in threading.enumerate() if t.name == "kube-emulator"]
        assert len(server_threads) == 1

    reader.join(timeout=10)
    assert not reader.is_alive()  # the watch stream ended
    assert watch_lines  # it had seen the pods
    for pid in pids:
        assert pid is not None
        kube.wait_for(lambda p=pid: not alive(p), timeout=5)  # the grandchild is reaped by init
    assert not server_threads[0].is_alive()
    assert not root.exists()
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_no_pod_process_of_this_session_outlives_its_emulator() -> None:
    # Runs after the kubelet, controller and KubeSpawner tests (files run in
    # name order), whose emulators have all closed by now.
    pids = pids_of_closed_emulators()
    assert pids, "the kubelet tests should have started pod processes"
    assert [pid for pid in pids if alive(pid)] == []
