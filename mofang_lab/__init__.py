"""Mofang's single-user side: a jupyter-server extension, magics, a CLI and a sidebar.

The server extension is enabled on install (``jupyter_server_config.d``); the
JupyterLab sidebar ships as a prebuilt extension in ``mofang_lab/labextension``;
the magics load in every IPython kernel through ``etc/ipython/ipython_kernel_config.py``.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

__all__ = ["__version__", "load_ipython_extension"]


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext mofang_lab``: the job magics (loaded in every kernel by default)."""
    from mofang_lab.magics import MofangMagics

    ipython.register_magics(MofangMagics)


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "mofang-lab"}]


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    from mofang_lab.app import MofangLabApp

    return [{"module": "mofang_lab", "app": MofangLabApp}]
