"""Shared fixtures. The jupyter-server fixtures (jp_fetch, ...) come from pytest-jupyter."""

import pathlib

import pytest

pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def crds_dir() -> pathlib.Path:
    """The upstream CRD schemas (``MOFANG_CRDS_DIR``); skips, saying why, when absent."""
    from tests.crds import require_crds

    return require_crds()
