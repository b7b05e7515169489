"""Test hub configuration: the demo configuration, on free ports, plus an admin service token."""

import os

c = get_config()  # type: ignore[name-defined]  # noqa: F821
load_subconfig(os.environ["MOFANG_DEMO_CONFIG"])  # type: ignore[name-defined]  # noqa: F821

c.JupyterHub.hub_port = int(os.environ["MOFANG_TEST_HUB_PORT"])
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{os.environ['MOFANG_TEST_PROXY_API_PORT']}"
c.JupyterHub.services = [{"name": "mofang-test", "api_token": os.environ["MOFANG_TEST_TOKEN"]}]
c.JupyterHub.load_roles = [{"name": "admin", "services": ["mofang-test"]}]
if os.environ.get("MOFANG_TEST_RUN_AS"):
    c.MofangLocalSpawner.run_as = os.environ["MOFANG_TEST_RUN_AS"]
    c.MofangLocalSpawner.create_system_users = True
    c.MofangLocalSpawner.unix_group_prefix = os.environ["MOFANG_TEST_GROUP_PREFIX"]
if os.environ.get("MOFANG_TEST_OVER_LIMIT"):
    c.MofangPolicy.over_limit = os.environ["MOFANG_TEST_OVER_LIMIT"]
if os.environ.get("MOFANG_TEST_SPAWNER") == "simple":
    # JupyterHub's plain local process spawner, as the baseline of benchmarks: the
    # "simple" flavour, which (like our hub-user mode) runs servers as the hub's account.
    c.JupyterHub.spawner_class = "simple"
    c.SimpleLocalProcessSpawner.home_dir_template = (
        os.environ["MOFANG_DEMO_DIR"] + "/home/{username}"
    )
    if os.geteuid() == 0:
        c.Spawner.args = ["--allow-root"]
