"""The Mofang demo hub: JupyterHub on 127.0.0.1:8000 with the local spawner.

Started by ``mofang demo``. Users alice (vision), bob (nlp) and carol (both)
and the admin ``admin`` log in with the password ``mofang``. Storage lives
under ``$MOFANG_DEMO_DIR/data`` (``.demo/data`` in the source tree).
"""

import os
import sys
from pathlib import Path

here = Path(__file__).resolve().parent
sys.path.insert(0, str(here))
import catalog  # noqa: E402

c = get_config()  # type: ignore[name-defined]  # noqa: F821

state = Path(os.environ.get("MOFANG_DEMO_DIR", Path.cwd() / ".demo")).resolve()
state.mkdir(parents=True, exist_ok=True)

c.JupyterHub.bind_url = os.environ.get("MOFANG_DEMO_URL", "http://127.0.0.1:8000")
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(state / "jupyterhub.pid")
# The proxy comes from PyPI (package configurable-http-proxy), installed with mofang.
c.ConfigurableHTTPProxy.command = [str(Path(sys.executable).with_name("configurable-http-proxy"))]
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")

c.JupyterHub.authenticator_class = "dummy"
c.DummyAuthenticator.password = catalog.PASSWORD
c.Authenticator.allowed_users = set(catalog.USERS)
c.Authenticator.admin_users = set(catalog.ADMINS)
groups: dict[str, list[str]] = {}
for user, names in catalog.USERS.items():
    for name in names:
        groups.setdefault(name, []).append(user)
c.JupyterHub.load_groups = {name: {"users": users} for name, users in groups.items()}

c.JupyterHub.spawner_class = "mofang-local"
c.MofangLocalSpawner.data_root = str(state / "data")
c.MofangLocalSpawner.run_as = "hub-user"
c.Spawner.default_url = "/lab"
c.Spawner.cmd = [str(Path(sys.executable).with_name("jupyterhub-singleuser"))]
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 60

c.MofangPolicy.templates = catalog.TEMPLATES
c.MofangPolicy.groups = catalog.GROUPS
c.MofangPolicy.default_group = catalog.DEFAULT_GROUP
c.MofangPolicy.gpu_types = catalog.GPU_TYPES
c.MofangPolicy.over_limit = "correct"
