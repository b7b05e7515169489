"""GPUs for local jobs: the server's own devices, split between replicas.

A notebook server started by the local spawner sees only the GPUs of its plan,
through ``CUDA_VISIBLE_DEVICES``; its jobs share exactly those. Each replica
that asks for GPUs gets that many distinct devices, in order, and every other
replica gets an empty ``CUDA_VISIBLE_DEVICES`` (no GPU at all), as a pod
without a GPU request would. Devices held by running jobs are not handed out
again until those jobs end.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from mofang_lab.jobs.spec import JobSpec, replica_name
from mofang_spawner.errors import ConflictError

__all__ = ["devices_from_env", "split_devices"]


def devices_from_env(environ: Mapping[str, str]) -> tuple[str, ...]:
    """The device ids in ``CUDA_VISIBLE_DEVICES`` (unset or empty: none)."""
    value = environ.get("CUDA_VISIBLE_DEVICES", "")
    return tuple(part.strip() for part in value.split(",") if part.strip())


def split_devices(
    spec: JobSpec, available: Sequence[str], held: Collection[str]
) -> dict[str, tuple[str, ...]]:
    """Replica name -> its devices; ConflictError if running jobs hold too many."""
    free = [device for device in available if device not in held]
    wanted = spec.total_gpus
    if wanted > len(free):
        raise ConflictError(
            f"The job needs {wanted} GPUs; {len(free)} of this server's {len(available)} are "
            "free (running jobs hold the others). Wait for them to finish or cancel one."
        )
    result: dict[str, tuple[str, ...]] = {}
    position = 0
    for replica_type, index in spec.replicas():
        count = spec.roles[replica_type].resources.gpus
        result[replica_name(replica_type, index)] = tuple(free[position : position + count])
        position += count
    return result
