"""Shared fixtures. The jupyter-server fixtures (jp_fetch, ...) come from pytest-jupyter."""

pytest_plugins = ["pytest_jupyter.jupyter_server"]
