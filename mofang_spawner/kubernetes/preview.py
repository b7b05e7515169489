"""What a spawn would create, without a hub or a cluster: the engine of ``mofang plan``.

:func:`preview_spawn` builds a real :class:`MofangSpawner` from a hub
configuration, for a user who exists only here, and asks it to render the
plan: the Pod and claims come out of the same code path a spawn takes
(``MofangSpawner.render``), so what ``mofang plan`` prints is what the hub
creates. Two things only a running hub has are shown as placeholders: the
server's API token (:data:`TOKEN_PLACEHOLDER`), and the live quota check,
which needs the cluster's current pods (the printed plan is the one before
it).

KubeSpawner loads a Kubernetes client configuration when a spawner is made,
though rendering never calls the API. A placeholder configuration pointing
nowhere is used for that moment (the user's own kubeconfig could run a
credential plugin, or need a network), and the process's previous client
configuration is restored afterwards.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jupyterhub.app import JupyterHub
from jupyterhub.objects import Server
from jupyterhub.utils import url_escape_path, url_path_join
from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.config import kube_config
from kubespawner import clients
from traitlets.config import Config

from mofang_spawner.kubernetes.spawner import MofangSpawner
from mofang_spawner.kubernetes.storage import claim_names
from mofang_spawner.planning import ServerPlan

__all__ = ["TOKEN_PLACEHOLDER", "Preview", "preview_spawn"]

#: Stands for the API token the hub issues to each server when it starts it.
TOKEN_PLACEHOLDER = "<issued by the hub at spawn>"  # noqa: S105 - not a secret

_OFFLINE_KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: offline
  cluster: {server: "https://kubernetes.invalid:6443"}
contexts:
- name: offline
  context: {cluster: offline, user: offline}
current-context: offline
users:
- name: offline
  user: {token: offline}
"""


_HUB_URL_SETTINGS = frozenset(
    {
        "base_url",
        "bind_url",
        "cookie_host_prefix_enabled",
        "hub_bind_url",
        "hub_connect_ip",
        "hub_connect_url",
        "hub_ip",
        "hub_port",
        "hub_prefix",
        "hub_routespec",
        "public_url",
        "subdomain_host",
    }
)


@dataclass(frozen=True)
class Preview:
    """A rendered spawn: its plan, its Pod, the claims it creates, the claims it mounts."""

    plan: ServerPlan
    pod: dict[str, Any]
    new_claims: list[dict[str, Any]]
    mounted_claims: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Group:
    name: str


@dataclass
class _User:
    """The attributes of a hub user a spawner reads."""

    name: str
    groups: list[_Group]
    base_url: str
    id: int = 0

    @property
    def escaped_name(self) -> str:
        return str(url_escape_path(self.name))

    @property
    def url(self) -> str:
        return str(url_path_join(self.base_url, "user", self.escaped_name)) + "/"

    def progress_url(self, server_name: str = "") -> str:
        return str(url_path_join(self.base_url, "hub/api/users", self.escaped_name, "progress"))


async def preview_spawn(
    *,
    config: Config,
    user: str,
    groups: Sequence[str],
    options: Mapping[str, Any],
) -> Preview:
    """Render the spawn of ``user`` (member of ``groups``) with ``options`` under ``config``.

    Raises ``jupyterhub.spawner.SpawnException`` with the user's message when
    the policy refuses the options, as a spawn would.
    """
    hub_app = JupyterHub(config=_hub_url_config(config))
    hub_app.init_hub()
    person = _User(name=user, groups=[_Group(g) for g in groups], base_url=hub_app.base_url)
    with _client_configuration():
        spawner = MofangSpawner(
            user=person,
            hub=hub_app.hub,
            config=config,
            oauth_client_id=f"jupyterhub-user-{quote(user)}",
            api_token=TOKEN_PLACEHOLDER,
            user_options=dict(options),
            cookie_host_prefix_enabled=hub_app.cookie_host_prefix_enabled,
        )
    spawner.server = Server(base_url=person.url)
    plan = spawner.plan_for_spawn()
    pod, claims = await spawner.render(plan)
    return Preview(
        plan=plan,
        pod=pod,
        new_claims=claims,
        mounted_claims=claim_names(plan=plan, storage=spawner.storage),
    )


def _hub_url_config(config: Config) -> Config:
    """Only the hub settings that decide the URLs a server is given.

    The rest of ``c.JupyterHub`` may name classes this machine lacks (an
    OAuth authenticator, the hub's own entry points) and is not needed here.
    """
    hub = Config()
    for name, value in (config.get("JupyterHub") or {}).items():
        if name in _HUB_URL_SETTINGS:
            hub.JupyterHub[name] = value
    return hub


@contextlib.contextmanager
def _client_configuration() -> Iterator[None]:
    """A usable client configuration while a spawner is made; the previous one after."""
    previous = Configuration.get_default_copy()
    # kubernetes_asyncio reads $KUBECONFIG once, at import: its default
    # location is what must point at the placeholder for this moment.
    default_location = kube_config.KUBE_CONFIG_DEFAULT_LOCATION
    with tempfile.TemporaryDirectory(prefix="mofang-plan-") as tmp:
        placeholder = Path(tmp) / "kubeconfig"
        placeholder.write_text(_OFFLINE_KUBECONFIG)
        kube_config.KUBE_CONFIG_DEFAULT_LOCATION = str(placeholder)
        # KubeSpawner caches the configuration it loaded: make it load this one.
        clients.load_config.cache_clear()
        try:
            yield
        finally:
            kube_config.KUBE_CONFIG_DEFAULT_LOCATION = default_location
            clients.load_config.cache_clear()
            Configuration.set_default(previous)
