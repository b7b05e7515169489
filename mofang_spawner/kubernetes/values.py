"""Hub configuration from a Zero to JupyterHub ``values.yaml``, the way the chart applies it.

The chart hands every ``hub.config.<Class>.<trait>`` to the hub as
``c.<Class>.<trait>``. Reading the same section here lets ``mofang plan`` and
a hub run outside the chart (``hub-config/kubernetes/jupyterhub_config.py``)
use one values file as the single source of the catalog, groups, GPU types
and storage settings. Settings the chart derives from other keys
(``singleuser.*``: the user id, the cloud-metadata blocker, network-policy
labels) are the chart's business and are not reproduced.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from traitlets.config import Config

from mofang_spawner.errors import ConfigurationError

__all__ = ["config_from_values", "hub_config_section"]


def hub_config_section(path: Path) -> dict[str, dict[str, Any]]:
    """The ``hub.config`` mapping of the values file at ``path`` (``{}`` if absent)."""
    try:
        values = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"Cannot read the values file {path}: {exc}") from exc
    section = ((values.get("hub") or {}) if isinstance(values, dict) else {}).get("config") or {}
    if not isinstance(section, dict) or not all(isinstance(v, dict) for v in section.values()):
        raise ConfigurationError(
            f"{path}: hub.config must map class names to settings, e.g. "
            "hub.config.MofangPolicy.over_limit: correct"
        )
    return section


def config_from_values(path: Path) -> Config:
    """``hub.config`` of the values file at ``path`` as a traitlets ``Config``."""
    config = Config()
    for section, settings in hub_config_section(path).items():
        config[section].update(settings)
    return config
