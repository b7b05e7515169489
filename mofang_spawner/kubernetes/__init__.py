"""The Kubernetes flavour of the Mofang spawner: ``MofangSpawner(KubeSpawner)``.

``c.JupyterHub.spawner_class = "mofang"`` (the entry point) selects it. The
package is layered like the rest of the spawner: pure builders that turn a
``ServerPlan`` into pod fields and claims (``labels``, ``storage``,
``placement``, ``objects``), the user's identity and entitlements for the
cluster-side guard of jobs (``identity``, ``entitlements``), the pure
live-quota count (``quota``) and the pure reading of a starting pod
(``events``), none of which import an API
client (an import-linter contract checks it); then the one module that talks
to the API (``cluster``), the wait on a new pod (``waiting``), the spawner
itself (``spawner``) and the offline rendering behind ``mofang plan``
(``preview``). ``MofangSpawner`` is imported on first use, so the builders
can be used without loading KubeSpawner.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mofang_spawner.kubernetes.spawner import MofangSpawner

__all__ = ["MofangSpawner"]


def __getattr__(name: str) -> Any:
    if name == "MofangSpawner":
        from mofang_spawner.kubernetes.spawner import MofangSpawner

        return MofangSpawner
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
