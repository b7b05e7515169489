"""MofangPolicy: traitlets configuration validated into a Policy, errors name the setting."""

from __future__ import annotations

import pytest
from traitlets.config import Config

from mofang_spawner.config import MofangPolicy
from mofang_spawner.errors import ConfigurationError
from tests.policies import demo_catalog


def config(**section: object) -> Config:
    catalog = demo_catalog()
    c = Config()
    c.MofangPolicy.templates = catalog.TEMPLATES
    c.MofangPolicy.groups = catalog.GROUPS
    c.MofangPolicy.gpu_types = catalog.GPU_TYPES
    for key, value in section.items():
        setattr(c.MofangPolicy, key, value)
    return c


def test_demo_configuration_is_valid() -> None:
    policy = MofangPolicy(config=config()).policy()
    assert [g.name for g in policy.groups] == ["vision", "nlp"]
    assert policy.storage.global_read_only is True
    assert policy.over_limit == "correct"


def test_storage_settings_reach_the_policy() -> None:
    policy = MofangPolicy(config=config(global_read_only=False, projects_dir="teams")).policy()
    assert policy.storage.global_read_only is False
    assert policy.storage.projects_dir == "teams"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"groups": {"vision": {"limits": {"cpu": 1, "memory_gib": 1}, "gpu_types": ["h100"]}}},
            "unknown GPU type 'h100'",
        ),
        (
            {"groups": {"vision": {"limits": {"cpu": 1, "memory_gib": 1}, "templates": ["jax"]}}},
            "unknown template 'jax'",
        ),
        (
            {"groups": {"vision": {"limits": {"cpu": -1, "memory_gib": 1}}}},
            r"groups\['vision'\].limits.cpu",
        ),
        ({"templates": []}, "templates"),
        ({"gpu_types": [{"name": "m", "kind": "mig"}]}, "needs mig_profile"),
        ({"gpu_types": [{"name": "v", "kind": "hami"}]}, "needs memory_mib"),
        (
            {
                "templates": [
                    {
                        "name": "Bad Name",
                        "image": "x",
                        "default": {"cpu": 1, "memory_gib": 1},
                        "maximum": {"cpu": 1, "memory_gib": 1},
                    }
                ]
            },
            "templates.0.name",
        ),
    ],
)
def test_invalid_configuration_is_reported_with_the_setting(
    section: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message) as info:
        MofangPolicy(config=config(**section)).policy()
    assert str(info.value).startswith("Invalid c.MofangPolicy configuration")


def test_every_trait_has_help_for_admins() -> None:
    for name, trait in MofangPolicy.class_traits(config=True).items():
        assert len(trait.help) > 30, name
