"""Real Kubernetes clients pointed at an emulator, for tests.

``kubernetes_client(kube)`` loads the emulator's kubeconfig into a private
``Configuration`` (never the process-wide default, which KubeSpawner's
``load_config`` caches for the life of the process) and yields a
``kubernetes_asyncio`` ``ApiClient``; typed APIs are built on it as usual::

    async with kubernetes_client(kube) as api:
        pods = await CoreV1Api(api).list_namespaced_pod("default")

``default_configuration(kube)`` makes the emulator the process-wide default
for code that builds its clients itself (KubeSpawner's ``shared_client``)
and restores the previous default afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

from kubernetes_asyncio import client, config

if TYPE_CHECKING:
    from .emulator import KubeEmulator

__all__ = ["default_configuration", "kubernetes_client", "load_configuration"]


async def load_configuration(kube: KubeEmulator) -> client.Configuration:
    """A client ``Configuration`` read from the emulator's kubeconfig, as a user's would be."""
    configuration = client.Configuration()
    await config.load_kube_config(
        config_file=str(kube.kubeconfig), client_configuration=configuration
    )
    return configuration


@contextlib.asynccontextmanager
async def kubernetes_client(kube: KubeEmulator) -> AsyncIterator[client.ApiClient]:
    async with client.ApiClient(await load_configuration(kube)) as api:
        yield api


@contextlib.contextmanager
def default_configuration(configuration: client.Configuration) -> Iterator[None]:
    """Make ``configuration`` the process-wide default for the ``with`` block."""
    previous = client.Configuration.get_default_copy()
    client.Configuration.set_default(configuration)
    try:
        yield
    finally:
        client.Configuration.set_default(previous)
