"""``MofangLocalSpawner``: the Mofang policy applied to local processes.

The embedded default (``mofang demo``) and a real deployment for a team that
shares one or two GPU machines. Two modes, chosen by ``run_as``:

* ``hub-user``: every server runs as the hub's own account. Each user sees only
  the storage levels they are entitled to, but nothing in the operating system
  stops one server from reading another's files. Good for a demo or one person.
* ``system-user``: the hub runs as root; each hub user's server runs as the
  system account of the same name, project directories belong to one unix
  group per project group, so the storage levels are enforced by file modes.

Either way the server's workspace root is the user's private directory, with
``projects/<group>`` and ``global`` inside it, exactly where a Kubernetes pod
mounts them; the plan's GPUs become ``CUDA_VISIBLE_DEVICES``; the plan itself
travels to the server as JSON in ``MOFANG_PLAN`` for ``mofang_lab`` to show.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from jupyterhub.spawner import LocalProcessSpawner, SpawnException
from traitlets import Bool, Enum, Unicode

from mofang_spawner.errors import ConfigurationError, MofangError
from mofang_spawner.local.accounts import ensure_owner
from mofang_spawner.local.gpus import POOL
from mofang_spawner.local.readiness import wait_until_answering
from mofang_spawner.local.storage import Owner, prepare_workspace
from mofang_spawner.mixin import PLAN_ENV, MofangSpawnerMixin, spawn_exception
from mofang_spawner.planning import ServerPlan

__all__ = ["MofangLocalSpawner"]


class MofangLocalSpawner(MofangSpawnerMixin, LocalProcessSpawner):  # type: ignore[misc]
    """Starts single-user servers as local processes, within the Mofang policy."""

    data_root = Unicode(
        "/var/lib/mofang",
        config=True,
        help="""Directory holding the three storage levels (users/, projects/, global/).
        The local stand-in for the CephFS root; created if missing.""",
    )

    run_as = Enum(
        ["hub-user", "system-user"],
        default_value="hub-user",
        config=True,
        help="""``hub-user``: servers run as the hub's account (no isolation between
        users; for a demo or one person). ``system-user``: the hub runs as root and
        each user's server runs as the system account of the same name, with storage
        enforced by file modes and one unix group per project group.""",
    )

    create_system_users = Bool(
        False,
        config=True,
        help="In system-user mode, create a missing system account (useradd) instead of "
        "refusing the spawn.",
    )

    unix_group_prefix = Unicode(
        "mofang-",
        config=True,
        help="In system-user mode, prefix of the unix group made for each project group.",
    )

    @property
    def _gpu_owner(self) -> str:
        return f"{self.user.name}/{self.name}"

    async def start(self) -> Any:
        plan = self.make_plan(self.user_options)
        try:
            devices = self._allocate_gpus(plan)
            workspace = await asyncio.to_thread(self._prepare, plan)
        except MofangError as exc:
            POOL.release(self._gpu_owner)
            raise spawn_exception(exc) from exc
        self.plan = plan
        self.notebook_dir = str(workspace)
        self._devices = devices
        self.cpu_limit = plan.resources.cpu
        self.mem_limit = int(plan.resources.memory_gib * 2**30)
        try:
            address = await super().start()
            await self._wait_until_answering(address)
            return address
        except BaseException:
            POOL.release(self._gpu_owner)
            raise

    async def _wait_until_answering(self, address: Any) -> None:
        ip, port = address if isinstance(address, tuple) else (None, None)
        if ip is None:
            return
        url = f"http://{ip}:{port}{self.server.base_url}api"
        try:
            await wait_until_answering(
                url, timeout=self.http_timeout, exit_code=lambda: self.proc.poll()
            )
        except RuntimeError as exc:
            raise SpawnException(
                f"Your server stopped while starting ({exc}). Try again; if it keeps "
                "failing, ask an administrator to look at the hub's log.",
                reason="mofang-server-exited",
                status_code=500,
            ) from exc

    async def stop(self, now: bool = False) -> None:
        await super().stop(now=now)
        POOL.release(self._gpu_owner)

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)
        devices = tuple(state.get("mofang_gpus", ()))
        if devices:
            POOL.restore(self._gpu_owner, devices)

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        held = POOL.held(self._gpu_owner)
        if held:
            state["mofang_gpus"] = list(held)
        return state

    def _allocate_gpus(self, plan: ServerPlan) -> tuple[str, ...]:
        if plan.gpu is None:
            POOL.release(self._gpu_owner)
            return ()
        gpu_type = self.policy.gpu_type(plan.gpu.type)
        assert gpu_type is not None  # the planner only returns known types
        return POOL.allocate(self._gpu_owner, gpu_type, plan.gpu.count)

    def _prepare(self, plan: ServerPlan) -> Path:
        owner: Owner | None = None
        if self.run_as == "system-user":
            if os.geteuid() != 0:
                raise ConfigurationError(
                    "run_as='system-user' needs the hub to run as root; run the hub as root "
                    "or set c.MofangLocalSpawner.run_as = 'hub-user'."
                )
            owner = ensure_owner(
                plan,
                prefix=self.unix_group_prefix,
                all_groups=[g.name for g in self.policy.groups],
                create_user=self.create_system_users,
            )
        return prepare_workspace(
            Path(self.data_root), plan, owner, projects_dir=self.policy.storage.projects_dir
        )

    def get_env(self) -> dict[str, str]:
        env: dict[str, str] = super().get_env()
        if isinstance(self.plan, ServerPlan):
            env[PLAN_ENV] = self.plan.to_json()
            env["MOFANG_WORKSPACE"] = self.notebook_dir
            # An empty value hides every GPU, which is what a CPU plan means.
            env["CUDA_VISIBLE_DEVICES"] = ",".join(getattr(self, "_devices", ()))
        return env

    def user_env(self, env: dict[str, str]) -> dict[str, str]:
        if self.run_as == "system-user":
            result: dict[str, str] = super().user_env(env)
            return result
        env["USER"] = self.user.name
        env["HOME"] = self.notebook_dir or str(Path(self.data_root) / "users")
        env["SHELL"] = os.environ.get("SHELL", "/bin/bash")
        return env

    def make_preexec_fn(self, name: str) -> Any:
        if self.run_as == "system-user":
            return super().make_preexec_fn(name)
        workspace = self.notebook_dir

        def preexec() -> None:
            os.chdir(workspace)

        return preexec

    def get_args(self) -> list[str]:
        args: list[str] = super().get_args()
        if self.run_as == "hub-user" and os.geteuid() == 0 and "--allow-root" not in args:
            args.append("--allow-root")
        return args
