"""The Kubernetes test hub, with MofangSpawner settings from ``MOFANG_BENCH_SPAWNER`` on top.

For benchmarks that attribute the hub's work to one feature of the spawner
(``{"wait_for_port": false}``, ...): ``kube_hub(..., MOFANG_DEMO_CONFIG=<this
file>, MOFANG_BENCH_SPAWNER=<JSON>)``.
"""

import json
import os
from pathlib import Path

c = get_config()  # type: ignore[name-defined]  # noqa: F821
root = Path(__file__).resolve().parents[1]
load_subconfig(str(root / "tests" / "kubernetes" / "hub_config.py"))  # type: ignore[name-defined]  # noqa: F821
for name, value in json.loads(os.environ.get("MOFANG_BENCH_SPAWNER", "{}")).items():
    setattr(c.MofangSpawner, name, value)

# The hub's Kubernetes client holds at most 100 connections (kubernetes_asyncio's
# default); MOFANG_BENCH_API_CONNECTIONS changes that limit (0: none), to test
# whether a spawn's requests wait for a free connection.
connections = os.environ.get("MOFANG_BENCH_API_CONNECTIONS")
if connections:
    from kubernetes_asyncio.client.configuration import Configuration

    configuration_init = Configuration.__init__

    def with_connections(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        configuration_init(self, *args, **kwargs)
        self.connection_pool_maxsize = int(connections) or None

    Configuration.__init__ = with_connections

# MOFANG_BENCH_PROFILE=<prefix>: profile the hub's main thread (cProfile) from here
# until it exits, into <prefix>.<spawner>.<pid>: where the hub's CPU goes.
profile_prefix = os.environ.get("MOFANG_BENCH_PROFILE")
if profile_prefix:
    import atexit
    import cProfile

    profiler = cProfile.Profile()
    spawner = "kubespawner" if os.environ.get("MOFANG_TEST_SPAWNER") == "kubespawner" else "mofang"
    atexit.register(profiler.dump_stats, f"{profile_prefix}.{spawner}.{os.getpid()}")
    profiler.enable()
