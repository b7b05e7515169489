"""A hub running MofangSpawner outside the Zero to JupyterHub chart.

Reads ``hub.config`` of ``values.yaml`` in this directory (the chart's way of
configuring the hub), so the chart and a hub started with
``jupyterhub -f hub-config/kubernetes/jupyterhub_config.py`` (a development
hub with a KUBECONFIG, the test suite, ``mofang plan``) use one catalog.
Settings that the chart derives from ``singleuser.*`` are repeated below.
"""

from pathlib import Path

from mofang_spawner.kubernetes.values import hub_config_section

c = get_config()  # type: ignore[name-defined]  # noqa: F821

for section, settings in hub_config_section(Path(__file__).with_name("values.yaml")).items():
    c[section].update(settings)

# What the chart makes of singleuser.* in values.yaml.
c.KubeSpawner.uid = 1000
c.KubeSpawner.fs_gid = 100
c.Spawner.cmd = ["jupyterhub-singleuser"]
c.Spawner.default_url = "/lab"
c.KubeSpawner.storage_pvc_ensure = False
