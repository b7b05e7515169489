"""Spawning on Kubernetes, through the in-repo API emulator: MofangSpawner against KubeSpawner.

Three figures, from one run:

1. **Spawn to ready** of the same pod (image, resources, volumes, placement)
   by ``MofangSpawner`` (plan, live quota, the hub's shared watches) and by plain
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
3. **Many users**: N users (100 by default) spawning at once through one
   hub, MofangSpawner and plain KubeSpawner each on its own hub and emulated
   cluster, batches alternating: errors (a spawn that fails, or a server that
   then does not answer through the proxy), the time until the last server
   is ready, and the hub process's CPU seconds per spawn. The pods run the
   stub server, so the figure is the hub's and the spawner's own work.

The peak RSS of every hub is reported too (the kernel's high-water mark).

    python -m benchmarks.spawn_kubernetes                 # 9 rounds; 100 users, 3 batches
    python -m benchmarks.spawn_kubernetes --quick         # checks it runs, not how fast
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import random
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

from benchmarks.process_stats import cpu_seconds, peak_rss_mib, pid_from_file
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


def baseline_pod(
    home: str,
    user: str = "alice",
    groups: tuple[str, ...] = ("vision",),
    options: dict[str, str] = OPTIONS,
) -> dict[str, Any]:
    """KubeSpawner settings that give the pod MofangSpawner makes for ``user`` with ``options``."""
    config = load_config(ROOT / "hub-config" / "kubernetes" / "jupyterhub_config.py")
    policy = MofangPolicy(config=config).policy()
    plan = plan_server(user, list(groups), choices_from_options(options), policy)
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


def measure_spawns(
    base: Path, rounds: int, *, lab: bool, peak_rss: dict[str, float]
) -> dict[str, list[float]]:
    """Alternating spawns of the same pod by the two spawners; ``lab``: JupyterLab, or the stub.

    Each hub's peak RSS afterwards goes into ``peak_rss``.
    """
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
            peak_rss.update(
                mofang=peak_rss_mib(hub_pid(mofang)), kubespawner=peak_rss_mib(hub_pid(plain))
            )
    return times


def measure_failures(base: Path, baseline_failure: bool, *, quick: bool) -> dict[str, float]:
    """Seconds to each fatal spawn error; ``quick``: two causes, with a 1 s grace."""
    seconds: dict[str, float] = {}
    with (
        emulated_cluster(base / "k3") as kube,
        # The product's default grace before a scheduling or storage cause is final.
        kube_hub(kube, base / "failing", POLICY, MOFANG_TEST_GRACE="1" if quick else "5") as hub,
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
        if quick:
            return seconds
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


def hub_pid(hub: Hub) -> int:
    """The hub process's id (the demo configuration writes it beside the hub's database)."""
    return pid_from_file(hub.state / "jupyterhub.pid")


def many_users_pod(home: str) -> dict[str, Any]:
    """KubeSpawner settings for the pod MofangSpawner makes for any user with SMALL.

    The plan of one user of the default group, with the user's name made a
    KubeSpawner template again (KubeSpawner expands it in mounts and labels).
    """
    pod = baseline_pod(home, "user0", (), SMALL)
    # The default group has no priority class: KubeSpawner's default (none) is the same.
    pod = {name: value for name, value in pod.items() if value is not None}
    return dict(json.loads(json.dumps(pod).replace('"user0"', '"{username}"')))


@dataclass
class Batch:
    """N spawns at once through one hub."""

    users: int
    errors: int
    seconds: float  # first request -> last server ready (or given up)
    hub_cpu_seconds: float  # the hub process's CPU time over the same span
    failures: list[str]

    @property
    def cpu_per_spawn(self) -> float:
        return self.hub_cpu_seconds / self.users


def spawn_batch(hub: Hub, kube: Any, users: list[str], options: dict[str, str]) -> Batch:
    """Every user in ``users`` spawns at once; when all are ready (or failed), all stop."""
    # Spawn requests go to the hub's own port: the test proxy queues at most 20
    # requests, and a spawn request is held open up to the hub's slow-spawn timeout.
    direct = dataclasses.replace(
        hub,
        url=f"http://127.0.0.1:{hub.env['MOFANG_TEST_HUB_PORT']}",  # type: ignore[attr-defined]
    )
    direct.user_tokens = hub.user_tokens
    failures: dict[str, str] = {}

    def post(user: str) -> None:
        try:
            response = direct.api("POST", f"/users/{user}/server", as_user=user, json=options)
        except OSError as exc:
            failures[user] = f"request failed: {exc}"
            return
        if response.status_code not in (201, 202):
            failures[user] = f"{response.status_code}: {response.text[:300]}"

    pid = hub_pid(hub)
    ready: set[str] = set()
    cpu_start = cpu_seconds(pid)
    start = time.perf_counter()
    with ThreadPoolExecutor(len(users)) as pool:
        posts = [pool.submit(post, user) for user in users]
        # One client follows every spawn (a poll per user would load the hub more
        # than the spawns do): the admin's list of users, 4 times a second.
        while True:
            time.sleep(0.25)
            models = {m["name"]: m for m in direct.api("GET", "/users").json()}
            posted = all(f.done() for f in posts)
            for user in users:
                if user in ready or user in failures:
                    continue
                model = models.get(user, {})
                server = (model.get("servers") or {}).get("")
                if server and server.get("ready"):
                    ready.add(user)
                elif posted and model.get("pending") is None and not server:
                    failures[user] = "the spawn ended without a server (see the hub's log)"
            if len(ready) + len(failures) >= len(users):
                break
            if time.perf_counter() - start > 600:
                for user in set(users) - ready - set(failures):
                    failures[user] = "not ready after 600 s"
                break
    seconds = time.perf_counter() - start
    cpu = cpu_seconds(pid) - cpu_start

    def answers(user: str) -> None:
        # The stub answers every path; through the proxy, its own Server header shows.
        response = hub.server_get(user, "")
        if not response.headers.get("Server", "").startswith("SimpleHTTP"):
            failures[user] = f"not answering through the proxy: {response.status_code}"

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(answers, sorted(ready)))
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda user: direct.api("DELETE", f"/users/{user}/server"), users))

    def stopped() -> bool:
        models = direct.api("GET", "/users").json()
        busy = [m for m in models if m["name"] in users and (m.get("servers") or m.get("pending"))]
        return not busy and not kube.list("pods", "component=singleuser-server")

    wait_for(stopped, timeout=300, what="the servers to stop")
    return Batch(
        users=len(users),
        errors=len(failures),
        seconds=seconds,
        hub_cpu_seconds=cpu,
        failures=[f"{user}: {why}" for user, why in sorted(failures.items())],
    )


def pod_subnet() -> str:
    """Room for thousands of pods: the emulator never reuses a pod's address, and its
    default subnet (a /24) runs out after about two batches of 100. Random, so that
    runs side by side do not share addresses."""
    rng = random.SystemRandom()
    return f"127.{rng.randrange(1, 255)}.{16 * rng.randrange(16)}.0/20"


def measure_many_users(
    base: Path,
    count: int,
    rounds: int,
    settings: dict[str, Any] | None = None,
    api_connections: int | None = None,
) -> dict[str, Any]:
    """``rounds`` batches of ``count`` spawns at once per spawner, alternating.

    ``settings``: MofangSpawner settings to change (to see what a feature costs);
    ``api_connections``: the most connections each hub's Kubernetes client holds
    (0: no limit; default: the client's own, 100).
    """
    users = [f"user{i}" for i in range(count)]
    # Both hubs: the stub server in the pods, and the benchmark's hub configuration.
    stub = {
        "MOFANG_TEST_CMD": json.dumps(STUB),
        "MOFANG_TEST_START_TIMEOUT": "300",
        "MOFANG_DEMO_CONFIG": str(ROOT / "benchmarks" / "kube_hub_config.py"),
    }
    if api_connections is not None:
        stub["MOFANG_BENCH_API_CONNECTIONS"] = str(api_connections)
    changed = {"MOFANG_BENCH_SPAWNER": json.dumps(settings or {})}
    batches: dict[str, list[Batch]] = {"mofang": [], "kubespawner": []}
    peak_rss: dict[str, float] = {}
    with (
        emulated_cluster(base / "k5", pod_subnet=pod_subnet()) as kube_a,
        emulated_cluster(base / "k6", pod_subnet=pod_subnet()) as kube_b,
        kube_hub(kube_a, base / "many-mofang", **stub, **changed) as mofang,
    ):
        pod = many_users_pod(str(base / "many-kubespawner" / "home"))
        with kube_hub(
            kube_b,
            base / "many-kubespawner",
            MOFANG_TEST_SPAWNER="kubespawner",
            MOFANG_TEST_BASELINE_POD=json.dumps(pod),
            **stub,
        ) as plain:
            hubs = {"mofang": (mofang, kube_a, SMALL), "kubespawner": (plain, kube_b, {})}
            for hub, _kube, options in hubs.values():
                hub.api("POST", "/users", json={"usernames": users}).raise_for_status()
                for user in users:
                    hub.user_token(user)
                # One untimed spawn: the first one of a hub process pays for cold caches.
                spawn_seconds(hub, users[0], options, lab=False)
            for _ in range(rounds):
                for name, (hub, kube, options) in hubs.items():
                    batches[name].append(spawn_batch(hub, kube, users, options))
            peak_rss = {name: peak_rss_mib(hub_pid(hub)) for name, (hub, _, _) in hubs.items()}
    result: dict[str, Any] = {}
    for name, runs in batches.items():
        result[name] = {
            "errors": sum(b.errors for b in runs),
            "spawns": sum(b.users for b in runs),
            "seconds": summary([b.seconds for b in runs]),
            "hub_cpu_per_spawn": summary([b.cpu_per_spawn for b in runs]),
            "hub_peak_rss_mib": peak_rss[name],
            "failures": [f for b in runs for f in b.failures][:10],
        }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--users", type=int, default=100, help="users spawning at once")
    parser.add_argument("--batches", type=int, default=3, help="batches of --users per spawner")
    parser.add_argument(
        "--quick", action="store_true", help="1 round, stub servers only, 3 users, 2 failures"
    )
    parser.add_argument(
        "--baseline-failure", action="store_true", help="also time a KubeSpawner failure"
    )
    parser.add_argument(
        "--sections",
        default="spawn,failures,many",
        help="which measurements to run (comma-separated; default: all)",
    )
    parser.add_argument(
        "--mofang-settings",
        type=json.loads,
        default={},
        help='many users: MofangSpawner settings to change, as JSON ({"wait_for_port": false})',
    )
    parser.add_argument(
        "--api-connections",
        type=int,
        help="many users: the most connections each hub's Kubernetes client holds (0: no limit)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds
    users, batches = (3, 1) if args.quick else (args.users, args.batches)

    sections = set(args.sections.split(","))
    results: dict[str, dict[str, dict[str, float]]] = {}
    peak_rss: dict[str, dict[str, float]] = {}
    failures: dict[str, float] = {}
    many: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mofang-bench-k8s-") as tmp:
        base = Path(tmp)
        if "spawn" in sections:
            variants: dict[str, Any] = {"start": lambda: measure_start_latency(base, rounds)}
            if not args.quick:  # JupyterLab's start is the slow part of the quick mode
                variants["jupyterlab"] = lambda: measure_spawns(
                    base, rounds, lab=True, peak_rss=peak_rss.setdefault("jupyterlab", {})
                )
            variants["stub"] = lambda: measure_spawns(
                base, rounds, lab=False, peak_rss=peak_rss.setdefault("stub", {})
            )
            for variant, measure in variants.items():
                times = measure()
                results[variant] = {name: summary(values) for name, values in times.items()}
        if "failures" in sections:
            failures = measure_failures(
                base, args.baseline_failure and not args.quick, quick=args.quick
            )
        if "many" in sections:
            many = measure_many_users(
                base, users, batches, args.mofang_settings, args.api_connections
            )

    ratios = {
        variant: spawns["mofang"]["median"] / spawns["kubespawner"]["median"]
        for variant, spawns in results.items()
    }
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
            rss = peak_rss.get(variant, {}).get(name)
            print(
                f"    {label:24s} median {r['median']:.2f} s  "
                f"(min {r['min']:.2f}, max {r['max']:.2f})"
                + (f"  hub peak RSS {rss:.0f} MiB" if rss else "")
            )
        print(f"    ratio MofangSpawner / KubeSpawner: {ratios[variant]:.3f}")
    if failures:
        print("time from the spawn request to the hub reporting the failure, pod deleted")
    for cause, seconds in failures.items():
        print(f"  {cause:44s} {seconds:.2f} s")
    cpu_ratio = None
    if many:
        print(
            f"{users} users spawning at once through one hub, {batches} batches per spawner, "
            "alternating (stub server in the pods)"
            + (
                f"; MofangSpawner settings {json.dumps(args.mofang_settings)}"
                if args.mofang_settings
                else ""
            )
        )
        for name, label in (("mofang", "MofangSpawner"), ("kubespawner", "KubeSpawner, same pod")):
            r = many[name]
            print(
                f"  {label:24s} errors {r['errors']}/{r['spawns']}  all ready after: median "
                f"{r['seconds']['median']:.1f} s (min {r['seconds']['min']:.1f}, max "
                f"{r['seconds']['max']:.1f})  hub CPU per spawn: median "
                f"{r['hub_cpu_per_spawn']['median'] * 1000:.0f} ms  "
                f"hub peak RSS {r['hub_peak_rss_mib']:.0f} MiB"
            )
            for failure in r["failures"]:
                print(f"    {failure}")
        cpu_ratio = (
            many["mofang"]["hub_cpu_per_spawn"]["median"]
            / many["kubespawner"]["hub_cpu_per_spawn"]["median"]
        )
        time_ratio = many["mofang"]["seconds"]["median"] / many["kubespawner"]["seconds"]["median"]
        print(
            f"  ratio MofangSpawner / KubeSpawner: hub CPU per spawn {cpu_ratio:.3f}, "
            f"time until all ready {time_ratio:.3f}"
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "spawn_kubernetes": results,
                    "ratio": ratios,
                    "hub_peak_rss_mib": peak_rss,
                    "failures": failures,
                    "many_users": many,
                    "many_users_cpu_ratio": cpu_ratio,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
