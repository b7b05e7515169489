"""The local-process flavour of the Mofang spawner (the embedded default)."""

from mofang_spawner.local.spawner import MofangLocalSpawner

__all__ = ["MofangLocalSpawner"]
