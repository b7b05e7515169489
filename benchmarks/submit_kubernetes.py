"""Submit on Kubernetes: from submit to the custom resource created, against a bare create.

Both sides talk to the same in-repo Kubernetes API emulator over HTTP, with
the same client library, alternating so that drift on the machine hits both
alike:

* **Mofang**: ``KubernetesBackend.submit`` of a prepared 2-replica PyTorch job
  (the notebook already snapshotted, as the REST handler hands it over): the
  policy checks and the operator's rules, the job stored with its first event,
  the job folder written, the PyTorchJob created; timed until ``submit``
  returns, when the object exists;
* **with the snapshot**: the same, including ``prepare_submission`` (reading
  the notebook and converting it with nbconvert), which is what a user waits
  for behind ``mofang submit`` beside the HTTP round trip;
* **baseline**: ``create_namespaced_custom_object`` of the very object Mofang
  builds (under a fresh name), with the same ``kubernetes_asyncio`` client.

The figure is the ratio of medians, Mofang over the bare create (target: at
most 1.2). No operator runs: the measure ends when the object exists.

    python -m benchmarks.submit_kubernetes            # 60 rounds
    python -m benchmarks.submit_kubernetes --quick    # 5 rounds: checks it runs
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from kubernetes_asyncio.client import CustomObjectsApi

from benchmarks.stats import summary
from mofang_lab.backends.kubernetes import KubernetesBackend
from mofang_lab.jobs.request import SubmitRequest
from mofang_lab.jobs.submission import prepare_submission
from mofang_spawner.planning import PLAN_ENV
from tests.jobs.notebooks import DDP_TRAINING, write_notebook
from tests.kube_emulator import KubeEmulator
from tests.kube_emulator.clients import kubernetes_client
from tests.kubernetes.fake_operators import install_operator_crds
from tests.kubernetes.jobs_cluster import NAMESPACE, NODES, vision_plan, with_claims

REQUEST = {
    "notebook": "train.ipynb",
    "kind": "pytorch",
    "roles": {"Master": {"replicas": 1}, "Worker": {"replicas": 1}},
}
JOB = ("kubeflow.org", "v1", NAMESPACE, "pytorchjobs")


async def measure(kube: KubeEmulator, root: Path, rounds: int) -> dict[str, Any]:
    plan = vision_plan("ann")
    os.environ[PLAN_ENV] = plan.to_json()
    backend = KubernetesBackend(
        root_dir=str(root),
        kubeconfig=str(kube.write_kubeconfig(root.parent / "kubeconfig")),
        namespace=NAMESPACE,
        storage={"home_mount_path": str(root)},
    )
    await backend.start()
    request = SubmitRequest.model_validate(REQUEST)

    def prepare() -> Any:
        return prepare_submission(request, root_dir=root, plan=plan, backend="kubernetes")

    prepared = prepare()
    template = backend.manifest(prepared.spec, "template-000000", "ann")
    times: dict[str, list[float]] = {"mofang": [], "mofang_with_snapshot": [], "bare_create": []}
    async with kubernetes_client(kube) as api:
        custom = CustomObjectsApi(api)

        async def bare(number: int) -> float:
            obj = copy.deepcopy(template)
            obj["metadata"]["name"] = f"bare-{number:06d}"
            start = time.perf_counter()
            await custom.create_namespaced_custom_object(*JOB, obj)
            return time.perf_counter() - start

        async def ours(with_snapshot: bool) -> float:
            start = time.perf_counter()
            job = prepare() if with_snapshot else prepared
            await backend.submit("ann", job)
            return time.perf_counter() - start

        async def settle() -> None:
            # What a submit leaves to run after its answer (the record's "created"
            # mark) runs here, between the timed calls, not inside the next one.
            await asyncio.sleep(0.005)

        # One untimed run of each warms caches and connections.
        await bare(0)
        await ours(True)
        for number in range(1, rounds + 1):
            times["bare_create"].append(await bare(number))
            await settle()
            times["mofang"].append(await ours(False))
            await settle()
            times["mofang_with_snapshot"].append(await ours(True))
            await settle()
    created = len(kube.list("pytorchjobs", NAMESPACE))
    await backend.stop()
    result: dict[str, Any] = {name: summary(values) for name, values in times.items()}
    base = result["bare_create"]["median"]
    result["ratio"] = result["mofang"]["median"] / base
    result["ratio_with_snapshot"] = result["mofang_with_snapshot"]["median"] / base
    result["objects_created"] = created
    result["expected_objects"] = 3 * rounds + 2
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--quick", action="store_true", help="5 rounds")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()
    rounds = 5 if args.quick else args.rounds
    with tempfile.TemporaryDirectory() as tmp, KubeEmulator(nodes=NODES, kubelet=False) as kube:
        install_operator_crds(kube)
        with_claims(kube)
        root = Path(tmp) / "ann"
        write_notebook(root / "train.ipynb", DDP_TRAINING)
        result = asyncio.run(measure(kube, root, rounds))
    for name in ("bare_create", "mofang", "mofang_with_snapshot"):
        s = result[name]
        print(
            f"{name:22s} median {s['median'] * 1000:7.2f} ms  "
            f"(min {s['min'] * 1000:.2f}, max {s['max'] * 1000:.2f}, n={s['n']})"
        )
    print(f"ratio Mofang / bare create: {result['ratio']:.2f} (target <= 1.2)")
    print(f"ratio with the snapshot:    {result['ratio_with_snapshot']:.2f}")
    if args.json:
        args.json.write_text(json.dumps({"submit_kubernetes": result}, indent=2))
    return 0 if result["objects_created"] == result["expected_objects"] else 1


if __name__ == "__main__":
    sys.exit(main())
