"""``MofangLabApp``: the jupyter-server extension. It only wires things together.

It registers the REST handlers and creates the job backend chosen by
``backend_class`` (the local backend by default; configure
``c.MofangLabApp.backend_class`` to run jobs elsewhere). The backend's own
settings are its traits: ``c.LocalBackend.jobs_dir``, ``c.LocalBackend.store_path``, ...
Beside the backend it creates the sweep service chosen by ``sweeps_class``,
whose default is the one the backend pairs with: the :class:`SweepService`,
which runs sweeps' trials on that backend (``c.SweepService.store_path``), or,
with the Kubernetes backend, the service that runs each sweep as a Katib
Experiment. Neither choice names a backend here.
"""

from __future__ import annotations

from typing import Any, cast

from jupyter_server.extension.application import ExtensionApp
from traitlets import Instance, Type, default

from mofang_lab.backends.base import JobBackend
from mofang_lab.handlers import routes
from mofang_lab.handlers.jobs import BACKEND_SETTING
from mofang_lab.handlers.sweeps import SWEEP_SETTING
from mofang_lab.sweeps.service import SweepService

__all__ = ["MofangLabApp"]


class MofangLabApp(ExtensionApp):
    name = "mofang_lab"
    description = "Mofang: your environment, jobs and sweeps from JupyterLab."
    # The extension serves an API only; JupyterLab itself is the UI.
    load_other_extensions = True

    backend_class = Type(
        default_value="mofang_lab.backends.local.LocalBackend",
        klass=JobBackend,
        config=True,
        help="""The JobBackend that runs submitted jobs: the local backend (replicas as
        processes on this server's machine) or a cluster backend. Its settings are
        configured on the class itself, for example c.LocalBackend.jobs_dir.""",
    )

    backend = Instance(
        "mofang_lab.backends.base.JobBackend",
        allow_none=True,
        help="The backend in use (set when the extension starts).",
    )

    sweeps = Instance(
        "mofang_lab.sweeps.service.SweepService",
        allow_none=True,
        help="The sweeps of this server, run on the backend (set when the extension starts); "
        "configure them on the class: c.SweepService.store_path.",
    )

    sweeps_class = Type(
        klass=SweepService,
        config=True,
        help="""The service that runs sweeps. Default: the one the job backend pairs with
        (its sweep_service_class): trials as jobs of that backend, driven by Optuna on this
        server, or, with the Kubernetes backend, a Katib Experiment per sweep. Its settings
        are configured on the class itself, for example c.SweepService.store_path.""",
    )

    @default("sweeps_class")
    def _default_sweeps_class(self) -> str:
        backend_class = cast("type[JobBackend]", self.backend_class)
        return backend_class.sweep_service_class

    def initialize_settings(self) -> None:
        assert self.serverapp is not None
        backend_class = cast("type[JobBackend]", self.backend_class)
        self.backend = backend_class(parent=self, root_dir=self.serverapp.root_dir)
        self.settings[BACKEND_SETTING] = self.backend
        sweeps_class: type[SweepService] = self.sweeps_class
        self.sweeps = sweeps_class(parent=self, backend=self.backend)
        self.settings[SWEEP_SETTING] = self.sweeps

    def initialize_handlers(self) -> None:
        handlers: list[tuple[str, Any]] = list(routes())
        self.handlers.extend(handlers)

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        # Take up the jobs that ran before a restart now, not at the first request.
        if self.backend is not None:
            await self.backend.start()
        # Then the sweeps that were running: their trials are jobs just taken up.
        if self.sweeps is not None:
            await self.sweeps.start()

    async def stop_extension(self) -> None:
        # Jobs keep running; the next server takes them up again, and the sweeps too.
        if self.sweeps is not None:
            await self.sweeps.stop()
        if self.backend is not None:
            await self.backend.stop()
