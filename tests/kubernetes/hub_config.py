"""Test hub on a Kubernetes API (the emulator, or a real cluster): MofangSpawner with the
catalog of hub-config/kubernetes, the demo's users and groups, and switches for the tests.

Loaded by tests/e2e/hub_config.py (``MOFANG_DEMO_CONFIG`` points here), which adds the
ports and the admin service token. ``KUBECONFIG`` in the hub's environment says which API.
"""

import json
import os
import sys
from pathlib import Path

c = get_config()  # type: ignore[name-defined]  # noqa: F821
root = Path(__file__).resolve().parents[2]
# The demo's users (alice: vision, bob: nlp, carol: both), authenticator, state and proxy.
load_subconfig(str(root / "hub-config" / "demo" / "jupyterhub_config.py"))  # type: ignore[name-defined]  # noqa: F821
# The cluster's spawner, catalog, groups, GPU types and storage.
load_subconfig(str(root / "hub-config" / "kubernetes" / "jupyterhub_config.py"))  # type: ignore[name-defined]  # noqa: F821

c.JupyterHub.hub_connect_ip = os.environ.get("MOFANG_TEST_HUB_CONNECT_IP", "127.0.0.1")
c.KubeSpawner.namespace = os.environ.get("MOFANG_TEST_NAMESPACE", "default")
# (KubeSpawner's section, where values.yaml sets it, not Spawner's.)
c.KubeSpawner.start_timeout = int(os.environ.get("MOFANG_TEST_START_TIMEOUT", "60"))
c.MofangSpawner.fatal_grace_seconds = float(os.environ.get("MOFANG_TEST_GRACE", "1"))
c.KubeSpawner.k8s_api_request_retry_timeout = int(os.environ.get("MOFANG_TEST_RETRY_TIMEOUT", "20"))
for key, value in json.loads(os.environ.get("MOFANG_TEST_STORAGE", "{}")).items():
    setattr(c.MofangStorage, key, value)

if os.environ.get("MOFANG_TEST_REAL_CLUSTER"):
    # A real cluster runs the image's own jupyterhub-singleuser.
    image = os.environ.get("MOFANG_TEST_IMAGE", "quay.io/jupyter/base-notebook:2025-01-06")
    for template in c.MofangPolicy.templates:
        template["image"] = image
    # A test cluster's nodes lack the pools' labels and taints.
    for group in c.MofangPolicy.groups.values():
        group.pop("node_selector", None)
        group.pop("tolerations", None)
        group.pop("priority_class_name", None)
else:
    # The emulator runs the pod's command here: this environment's server, in a local
    # directory standing in for the mounted home.
    c.Spawner.cmd = [str(Path(sys.executable).with_name("jupyterhub-singleuser"))]
    c.Spawner.args = ["--allow-root"] if os.geteuid() == 0 else []
    c.MofangStorage.home_mount_path = os.environ["MOFANG_TEST_HOME"]
    c.KubeSpawner.uid = None
    c.KubeSpawner.fs_gid = None

# Per-test changes of the policy, as JSON: {"over_limit": ..., "groups": {name: {...}}, ...}.
changes = json.loads(os.environ.get("MOFANG_TEST_POLICY", "{}"))
for group, settings in changes.pop("groups", {}).items():
    c.MofangPolicy.groups.setdefault(group, {}).update(settings)
c.MofangPolicy.templates = c.MofangPolicy.templates + changes.pop("extra_templates", [])
for key, value in changes.items():
    setattr(c.MofangPolicy, key, value)
if os.environ.get("MOFANG_TEST_SPAWNER") == "kubespawner":
    # Plain KubeSpawner, for the benchmark's baseline: the same image, resources and
    # storage, set once, without Mofang's policy, quota or watch.
    baseline = json.loads(os.environ["MOFANG_TEST_BASELINE_POD"])
    c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
    for name, value in baseline.items():
        setattr(c.KubeSpawner, name, value)
if os.environ.get("MOFANG_TEST_CMD"):
    # A stand-in server (the benchmark's stub that answers HTTP at once).
    c.Spawner.cmd = json.loads(os.environ["MOFANG_TEST_CMD"])
    c.Spawner.args = []
if os.environ.get("MOFANG_TEST_DEBUG"):
    c.JupyterHub.log_level = "DEBUG"
