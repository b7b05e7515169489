"""Spawning on Kubernetes, through the in-repo API emulator: MofangSpawner against KubeSpawner.

Three figures, from one run:

1. **Spawn to ready** of the same pod (image, resources, volumes, placement)
   by ``MofangSpawner`` (plan, live quota, dry run, watch) and by plain
   ``KubeSpawner`` given the same pod settings, alternating; the figure is
   the ratio of medians. Three ways: ``Spawner.start()`` alone, called in
   this process, until it returns the ready pod's URL (the spawner's own
   latency); and through two real hubs, each on its own emulated cluster,
   from ``POST .../server`` to the hub reporting the server ready, with
   JupyterLab in the pod, and with a stub server that answers at once.
2. **Time to each fatal error**: how long MofangSpawner takes to end a
   spawn that cannot succeed (image pull, no GPU, no node of the pool, a
   missing claim, a failing mount), where KubeSpawner waits for
   ``start_timeout``; with ``--baseline-failure`` one KubeSpawner image-pull
   failure is timed too, to show it.
3. **Concurrent spawns**: rounds of N users spawning at once through one
   hub (requests sent to the hub's own port); the largest N whose spawns all
   succeed and whose servers then answer through the proxy.

    python -m benchmarks.spawn_kubernetes                 # 9 rounds, N up to 30
    python -m benchmarks.spawn_kubernetes --quick         # checks it runs, not how fast
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from jupyterhub.objects import Hub as JupyterHubHub
from jupyterhub.objects import Server
from kubernetes_asyncio.config import kube_config
from kubespawner import KubeSpawner, clients
from traitlets.config import Config

from benchmarks.stats import summary
from mofang_lab.cli.plan import load_config
from mofang_spawner.config import MofangPolicy
from mofang_spawner.kubernetes.objects import pod_traits
from mofang_spawner.kubernetes.spawner import MofangSpawner
from mofang_spawner.kubernetes.storage import StorageSettings
from mofang_spawner.planning import choices_from_options, plan_server
from tests.e2e.hub import Hub
from tests.kubernetes.cluster import (
    claim,
    emulated_cluster,
    kube_hub,
    wait_for,
)
from tests.kubernetes.test_kube_failures import POLICY, blocker, failed_spawn, join

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = {"template": "python", "cpu": "1", "memory_gib": "2", "disk_gib": "5"}
#: For many servers at once: small enough that the emulated nodes hold 100 of them.
SMALL = {"template": "python", "cpu": "0.5", "memory_gib": "1", "disk_gib": "1"}


#: A server that answers HTTP as soon as its process runs: with it, the spawn time is the
#: spawner's and the hub's own, without JupyterLab's start ("0.0.0.0" becomes the pod IP).
STUB = [sys.executable, "-m", "http.server", "--bind", "0.0.0.0", "8888"]  # noqa: S104


def spawn_seconds(hub: Hub, user: str, options: dict[str, str] | None, *, lab: bool) -> float:
    start = time.perf_counter()
    response = hub.api("POST", f"/users/{user}/server", as_user=user, json=options or {})
    if response.status_code == 202:
        hub.wait_ready(user)
    elif response.status_code != 201:
        raise RuntimeError(f"spawn failed: {response.status_code} {response.text}")
    elapsed = time.perf_counter() - start
    if lab and hub.server_get(user, "api/status").status_code != 200:
        raise RuntimeError("server not answering after spawn")
    hub.stop_server(user)
    return elapsed


def failure_seconds(hub: Hub, user: str, options: dict[str, str]) -> float:
    """Seconds from the spawn request until the hub has given the spawn up."""
    start = time.perf_counter()
    response = hub.api("POST", f"/users/{user}/server", as_user=user, json=options)
    while response.status_code < 400:
        model = hub.api("GET", f"/users/{user}").json()
        if (model.get("servers") or {}).get("", {}).get("ready"):
            raise RuntimeError(f"{user}'s spawn was expected to fail, and succeeded")
        if model.get("pending") is None and not model.get("servers"):
            break
        time.sleep(0.05)
    return time.perf_counter() - start


def baseline_pod(home: str) -> dict[str, Any]:
    """KubeSpawner settings that give the pod MofangSpawner makes for alice with OPTIONS."""
    config = load_config(ROOT / "hub-config" / "kubernetes" / "jupyterhub_config.py")
    policy = MofangPolicy(config=config).policy()
    plan = plan_server("alice", ["vision"], choices_from_options(OPTIONS), policy)
    traits = pod_traits(
        plan=plan,
        storage=StorageSettings(home_mount_path=home),
        configured={},
        cpu_request_fraction=0.5,
    )
    return {k: v for k, v in traits.items() if k != "notebook_dir"} | {"notebook_dir": home}


@dataclass
class BenchUser:
    """The attributes of a hub user a spawner reads (the hub is not running here)."""

    name: str
    groups: list[Any]
    id: int = 1

    @property
    def escaped_name(self) -> str:
        return self.name

    @property
    def url(self) -> str:
        return f"/user/{self.name}/"

    def progress_url(self, server_name: str = "") -> str:
        return f"/hub/api/users/{self.name}/server/progress"


async def _start_seconds(spawner_class: Any, config: Config, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds + 1):  # the first one warms up, untimed
        spawner = spawner_class(
            user=BenchUser("alice", [SimpleNamespace(name="vision")]),
            hub=JupyterHubHub(),
            config=config,
            api_token="bench",  # noqa: S106 - no hub: nothing checks it
            oauth_client_id="jupyterhub-user-alice",
            user_options=dict(OPTIONS),
        )
        spawner.server = Server(base_url="/user/alice/")
        start = time.perf_counter()
        await spawner.start()
        times.append(time.perf_counter() - start)
        await spawner.stop(now=True)
    return times[1:]


def measure_start_latency(base: Path, rounds: int) -> dict[str, list[float]]:
    """``Spawner.start()`` alone, called in this process: create the pod, return when ready.

    The pod runs the stub server; the figure is the spawner's own latency
    (requests, and noticing readiness: a watch event against polling with backoff).
    """
    home = base / "in-process-home"
    home.mkdir(parents=True)
    with emulated_cluster(base / "k0") as kube:
        kube_config.KUBE_CONFIG_DEFAULT_LOCATION = str(kube.kubeconfig)
        clients.load_config.cache_clear()
        mofang = load_config(ROOT / "hub-config" / "kubernetes" / "jupyterhub_config.py")
        plain = Config()
        plain.KubeSpawner.update(baseline_pod(str(home)))
        for config in (mofang, plain):
            config.Spawner.cmd = STUB
            config.Spawner.args = []
            config.KubeSpawner.namespace = "default"
            config.KubeSpawner.uid = None
            config.KubeSpawner.fs_gid = None
        mofang.MofangStorage.home_mount_path = str(home)
        # Only noticing the ready pod is compared here, not waiting for its port.
        mofang.MofangSpawner.wait_for_port = False

        async def both() -> dict[str, list[float]]:
            result = {"mofang": [], "kubespawner": []}
            for _ in range(rounds):
                result["mofang"] += await _start_seconds(MofangSpawner, mofang, 1)
                result["kubespawner"] += await _start_seconds(KubeSpawner, plain, 1)
            return result

        return asyncio.run(both())


def measure_spawns(base: Path, rounds: int, *, lab: bool) -> dict[str, list[float]]:
    """Alternating spawns of the same pod by the two spawners; ``lab``: JupyterLab, or the stub."""
    times: dict[str, list[float]] = {"mofang": [], "kubespawner": []}
    name = "lab" if lab else "stub"
    command = {} if lab else {"MOFANG_TEST_CMD": json.dumps(STUB)}
    with (
        emulated_cluster(base / f"k1-{name}") as kube_a,
        emulated_cluster(base / f"k2-{name}") as kube_b,
        kube_hub(kube_a, base / f"mofang-{name}", **command) as mofang,
    ):
        home = str(base / f"kubespawner-{name}" / "home")
        baseline = json.dumps(baseline_pod(home))
        with kube_hub(
            kube_b,
            base / f"kubespawner-{name}",
            MOFANG_TEST_SPAWNER="kubespawner",
            MOFANG_TEST_BASELINE_POD=baseline,
            **command,
        ) as plain:
            # One untimed spawn each: the first start of a process pays for cold caches.
            spawn_seconds(mofang, "alice", OPTIONS, lab=lab)
            spawn_seconds(plain, "alice", None, lab=lab)
            for _ in range(rounds):
                times["mofang"].append(spawn_seconds(mofang, "alice", OPTIONS, lab=lab))
                times["kubespawner"].append(spawn_seconds(plain, "alice", None, lab=lab))
    return times


def measure_failures(base: Path, baseline_failure: bool) -> dict[str, float]:
    seconds: dict[str, float] = {}
    with (
        emulated_cluster(base / "k3") as kube,
        # The product's default grace before a scheduling or storage cause is final.
        kube_hub(kube, base / "failing", POLICY, MOFANG_TEST_GRACE="5") as hub,
    ):

        def timed(user: str, options: dict[str, str]) -> float:
            elapsed, message = failed_spawn(hub, user, options)
            if "Spawn failed" not in message:
                raise RuntimeError(f"unexpected outcome: {message}")
            return elapsed

        seconds["image pull"] = timed("alice", {"template": "broken"})
        join(hub, "ghost", "bob")
        seconds["no node of the pool"] = timed("bob", {"group": "ghost"})
        join(hub, "archive", "carol")
        seconds["missing claim"] = timed("carol", {"group": "archive"})
        kube.create(claim("mofang-project-archive", storage_class="pending"))
        seconds["unbound claim"] = timed("carol", {"group": "archive"})
        kube.create(blocker(2))
        seconds["no free GPU"] = timed(
            "alice", {"template": "pytorch", "gpus": "1", "gpu_type": "a100"}
        )
        kube.delete("pods", "other-team-training")
        kube.kube.mount_fails = lambda pod, volume: volume.get("name") == "mofang-global"
        seconds["failing mount"] = timed("alice", {"template": "python"})
    if baseline_failure:
        with emulated_cluster(base / "k4") as kube:
            pod = baseline_pod(str(base / "plain-failing" / "home"))
            pod["image"] = "registry.example.com/mofang/unpullable-notebook:1"
            with kube_hub(
                kube,
                base / "plain-failing",
                MOFANG_TEST_SPAWNER="kubespawner",
                MOFANG_TEST_BASELINE_POD=json.dumps(pod),
                MOFANG_TEST_START_TIMEOUT="20",
            ) as hub:
                seconds["image pull, KubeSpawner (start_timeout 20 s)"] = failure_seconds(
                    hub, "alice", {}
                )
    return seconds


def measure_concurrency(base: Path, levels: list[int]) -> dict[int, int]:
    """For each level N: how many of N simultaneous spawns succeeded."""
    succeeded: dict[int, int] = {}
    with (
        emulated_cluster(base / "k5") as kube,
        kube_hub(kube, base / "busy", MOFANG_TEST_START_TIMEOUT="300") as hub,
    ):
        users = [f"user{i}" for i in range(max(levels))]
        hub.api("POST", "/users", json={"usernames": users}).raise_for_status()
        # Spawn requests go to the hub's own port: the test proxy queues at most 20
        # requests, and a spawn request is held open up to the hub's slow-spawn timeout.
        direct = dataclasses.replace(
            hub,
            url=f"http://127.0.0.1:{hub.env['MOFANG_TEST_HUB_PORT']}",  # type: ignore[attr-defined]
        )
        direct.user_tokens = hub.user_tokens
        for level in levels:
            chosen = users[:level]

            def one(user: str) -> bool:
                try:
                    response = direct.api("POST", f"/users/{user}/server", as_user=user, json=SMALL)
                    if response.status_code not in (201, 202):
                        return False
                    direct.wait_ready(user, timeout=300)
                    return hub.server_get(user, "api/status").status_code == 200
                except (AssertionError, OSError):
                    return False

            with ThreadPoolExecutor(level) as pool:
                succeeded[level] = sum(pool.map(one, chosen))
            for user in chosen:
                hub.api("DELETE", f"/users/{user}/server")
            wait_for(
                lambda kube=kube: not kube.list("pods", "component=singleuser-server"),
                timeout=120,
                what="the servers to stop",
            )
            if succeeded[level] < level:
                break
    return succeeded


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--levels", default="5,10,20,30", help="concurrent spawns to try")
    parser.add_argument("--quick", action="store_true", help="one round, small levels")
    parser.add_argument(
        "--baseline-failure", action="store_true", help="also time a KubeSpawner failure"
    )
    parser.add_argument(
        "--sections",
        default="spawn,failures,concurrency",
        help="which measurements to run (comma-separated; default: all)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    levels = [2] if args.quick else [int(n) for n in args.levels.split(",")]

    sections = set(args.sections.split(","))
    results: dict[str, dict[str, dict[str, float]]] = {}
    failures: dict[str, float] = {}
    concurrency: dict[int, int] = {}
    with tempfile.TemporaryDirectory(prefix="mofang-bench-k8s-") as tmp:
        base = Path(tmp)
        if "spawn" in sections:
            for variant, measure in (
                ("start", lambda: measure_start_latency(base, rounds)),
                ("jupyterlab", lambda: measure_spawns(base, rounds, lab=True)),
                ("stub", lambda: measure_spawns(base, rounds, lab=False)),
            ):
                times = measure()
                results[variant] = {name: summary(values) for name, values in times.items()}
        if "failures" in sections:
            failures = measure_failures(base, args.baseline_failure and not args.quick)
        if "concurrency" in sections:
            concurrency = measure_concurrency(base, levels)

    ratios = {
        variant: spawns["mofang"]["median"] / spawns["kubespawner"]["median"]
        for variant, spawns in results.items()
    }
    handled = max((n for n, ok in concurrency.items() if ok == n), default=0)
    titles = {
        "start": "Spawner.start() alone, until the pod is ready (stub server)",
        "jupyterlab": "through the hub, JupyterLab in the pod",
        "stub": "through the hub, a stub server in the pod",
    }
    if results:
        print(f"spawn to ready through the Kubernetes emulator ({rounds} rounds, alternating)")
    for variant, spawns in results.items():
        print(f"  {titles[variant]}")
        for name, label in (("mofang", "MofangSpawner"), ("kubespawner", "KubeSpawner, same pod")):
            r = spawns[name]
            print(
                f"    {label:24s} median {r['median']:.2f} s  "
                f"(min {r['min']:.2f}, max {r['max']:.2f})"
            )
        print(f"    ratio MofangSpawner / KubeSpawner: {ratios[variant]:.3f}")
    if failures:
        print("time from the spawn request to the hub reporting the failure, pod deleted")
    for cause, seconds in failures.items():
        print(f"  {cause:44s} {seconds:.2f} s")
    if concurrency:
        print("concurrent spawns through one hub (succeeded / started)")
        for level, ok in concurrency.items():
            print(f"  {level:3d}: {ok}/{level}")
        print(f"  handled without error: {handled}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "spawn_kubernetes": results,
                    "ratio": ratios,
                    "failures": failures,
                    "concurrency": {str(k): v for k, v in concurrency.items()},
                    "handled": handled,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
