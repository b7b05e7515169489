"""Planning at scale: plan_server for 10,000 users in 1,000 groups.

Each user is in three groups; every spawn plans with form-like choices (a
GPU template, more CPU than allowed so a correction is made, a GPU type). The
figure is the time per plan; the target is at most 1 ms. Planning is pure,
so this is the whole hub-side cost of the policy for one spawn.

    python -m benchmarks.plan_scale           # 10,000 users x 1,000 groups
    python -m benchmarks.plan_scale --quick   # 500 users x 50 groups
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time

from mofang_spawner.planning import Choices, Policy, plan_server
from tests.policies import CLUSTER_GPU_TYPES, demo_catalog


def build_policy(groups: int) -> Policy:
    return Policy.model_validate(
        {
            "templates": demo_catalog().TEMPLATES,
            "gpu_types": CLUSTER_GPU_TYPES,
            "groups": [
                {
                    "name": f"team-{i}",
                    "limits": {"cpu": 8, "memory_gib": 32, "gpus": 2, "disk_gib": 100},
                    "gpu_types": ["a100", "a100-1g"],
                    "node_selector": {"mofang.io/pool": f"pool-{i % 20}"},
                    "queue": f"team-{i}",
                }
                for i in range(groups)
            ],
        }
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=1_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.users, args.groups, args.repeats = 500, 50, 1

    rng = random.Random(42)  # noqa: S311 - reproducible group membership, not a secret
    policy = build_policy(args.groups)
    users = [
        (f"user{u}", [f"team-{rng.randrange(args.groups)}" for _ in range(3)])
        for u in range(args.users)
    ]
    choices = Choices(template="pytorch", cpu=12, gpus=1, gpu_type="a100-1g")
    per_plan: list[float] = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for name, groups in users:
            plan_server(name, groups, choices, policy)
        per_plan.append((time.perf_counter() - start) / len(users) * 1000)
    median = statistics.median(per_plan)
    print(f"planning at scale: {args.users} users, {args.groups} groups, {args.repeats} repeats")
    print(f"  per plan: median {median:.3f} ms (min {min(per_plan):.3f}, max {max(per_plan):.3f})")
    print(f"  target <= 1 ms: {'met' if median <= 1 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
