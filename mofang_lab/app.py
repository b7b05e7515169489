"""``MofangLabApp``: the jupyter-server extension. It only wires things together."""

from __future__ import annotations

from typing import Any

from jupyter_server.extension.application import ExtensionApp

from mofang_lab.handlers import routes

__all__ = ["MofangLabApp"]


class MofangLabApp(ExtensionApp):
    name = "mofang_lab"
    description = "Mofang: your environment, jobs and sweeps from JupyterLab."
    # The extension serves an API only; JupyterLab itself is the UI.
    load_other_extensions = True

    def initialize_handlers(self) -> None:
        handlers: list[tuple[str, Any]] = list(routes())
        self.handlers.extend(handlers)
