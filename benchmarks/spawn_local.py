"""Spawn to ready on one machine: MofangLocalSpawner against JupyterHub's plain spawner.

Two real hubs run side by side (same demo configuration; one with the Mofang
local spawner and the spawn form's choices, one with JupyterHub's plain local
process spawner), and a bare JupyterLab start gives the floor. Spawns of the
three alternate, so drift on the machine hits them alike. The figure is the
ratio of medians, Mofang over plain. Each hub's peak RSS (the kernel's
high-water mark of the hub process) is reported too.

    python -m benchmarks.spawn_local            # 7 rounds
    python -m benchmarks.spawn_local --quick    # 1 round: checks it runs, not how fast
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

from benchmarks.process_stats import peak_rss_mib, pid_from_file
from benchmarks.stats import summary
from tests.e2e.hub import Hub, free_port, running_hub

OPTIONS = {"template": "pytorch", "cpu": "2", "memory_gib": "4", "gpus": "1"}


def spawn_seconds(hub: Hub, user: str, options: dict[str, str] | None) -> float:
    start = time.perf_counter()
    response = hub.api("POST", f"/users/{user}/server", as_user=user, json=options or {})
    if response.status_code == 202:
        hub.wait_ready(user)
    elif response.status_code != 201:
        raise RuntimeError(f"spawn failed: {response.status_code} {response.text}")
    elapsed = time.perf_counter() - start
    if hub.server_get(user, "api/status").status_code != 200:
        raise RuntimeError("server not answering after spawn")
    hub.stop_server(user)
    return elapsed


def bare_lab_seconds(workdir: Path) -> float:
    port = free_port()
    command = [
        str(Path(sys.executable).with_name("jupyter")),
        "lab",
        "--no-browser",
        f"--port={port}",
        "--ServerApp.token=bench",
        f"--ServerApp.root_dir={workdir}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                url = f"http://127.0.0.1:{port}/api/status?token=bench"
                if requests.get(url, timeout=2).status_code == 200:
                    return time.perf_counter() - start
            except requests.ConnectionError:
                pass
            if process.poll() is not None:
                raise RuntimeError("bare JupyterLab exited")
            time.sleep(0.02)
    finally:
        process.terminate()
        process.wait(timeout=30)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="one round")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    rounds = 1 if args.quick else args.rounds

    times: dict[str, list[float]] = {"mofang": [], "plain": [], "floor": []}
    with tempfile.TemporaryDirectory(prefix="mofang-bench-") as tmp:
        base = Path(tmp)
        with (
            running_hub(base / "mofang") as mofang,
            running_hub(base / "plain", MOFANG_TEST_SPAWNER="simple") as plain,
        ):
            # One untimed spawn each: the first start of a Python process pays for
            # cold caches that later spawns do not.
            spawn_seconds(mofang, "alice", OPTIONS)
            spawn_seconds(plain, "alice", None)
            for _ in range(rounds):
                times["mofang"].append(spawn_seconds(mofang, "alice", OPTIONS))
                times["plain"].append(spawn_seconds(plain, "alice", None))
                times["floor"].append(bare_lab_seconds(base))
            peak_rss = {
                name: peak_rss_mib(pid_from_file(hub.state / "jupyterhub.pid"))
                for name, hub in (("mofang", mofang), ("plain", plain))
            }

    result = {name: summary(values) for name, values in times.items()}
    ratio = result["mofang"]["median"] / result["plain"]["median"]
    over_floor = result["mofang"]["median"] - result["floor"]["median"]
    print(f"spawn to ready, local ({rounds} rounds, alternating)")
    for name, label in [
        ("mofang", "MofangLocalSpawner, form choices"),
        ("plain", "JupyterHub plain local spawner"),
        ("floor", "bare JupyterLab start (floor)"),
    ]:
        r = result[name]
        print(f"  {label:34s} median {r['median']:.2f} s  (min {r['min']:.2f}, max {r['max']:.2f})")
    print(f"  ratio Mofang / plain: {ratio:.3f}   Mofang - floor: {over_floor:+.2f} s")
    print(
        f"  hub peak RSS: Mofang {peak_rss['mofang']:.0f} MiB, plain {peak_rss['plain']:.0f} MiB "
        f"(ratio {peak_rss['mofang'] / peak_rss['plain']:.3f})"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {"spawn_local": result, "ratio": ratio, "hub_peak_rss_mib": peak_rss}, indent=2
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
