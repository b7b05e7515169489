"""LocalGpuPool: no two running servers share a non-shared device."""

from __future__ import annotations

import pytest

from mofang_spawner.errors import PolicyError
from mofang_spawner.local.gpus import LocalGpuPool
from mofang_spawner.planning import GpuType

EXCLUSIVE = GpuType(name="g", local_devices=("0", "1", "2"))
SHARED = GpuType(name="s", local_devices=("0",), shared=True)


def test_devices_go_to_one_server_at_a_time() -> None:
    pool = LocalGpuPool()
    assert pool.allocate("alice/", EXCLUSIVE, 2) == ("0", "1")
    assert pool.allocate("bob/", EXCLUSIVE, 1) == ("2",)
    with pytest.raises(PolicyError, match="0 of 3 GPU"):
        pool.allocate("carol/", EXCLUSIVE, 1)
    pool.release("alice/")
    assert pool.allocate("carol/", EXCLUSIVE, 2) == ("0", "1")


def test_reallocating_for_the_same_server_frees_what_it_held() -> None:
    pool = LocalGpuPool()
    pool.allocate("alice/", EXCLUSIVE, 3)
    assert pool.allocate("alice/", EXCLUSIVE, 3) == ("0", "1", "2")


def test_shared_devices_are_handed_out_to_everyone() -> None:
    pool = LocalGpuPool()
    assert pool.allocate("alice/", SHARED, 1) == ("0",)
    assert pool.allocate("bob/", SHARED, 1) == ("0",)


def test_asking_for_more_than_the_machine_has_is_refused() -> None:
    with pytest.raises(PolicyError, match="has 3 GPU"):
        LocalGpuPool().allocate("alice/", EXCLUSIVE, 4)


def test_restored_holdings_block_allocation_after_a_hub_restart() -> None:
    pool = LocalGpuPool()
    pool.restore("alice/", ("0", "1", "2"))
    with pytest.raises(PolicyError):
        pool.allocate("bob/", EXCLUSIVE, 1)
