"""What every Mofang spawner does the same way, whatever it runs servers on.

``MofangSpawnerMixin`` sits in front of a JupyterHub spawner class (the local
process spawner, or KubeSpawner) and owns the policy side of a spawn: the
options form, turning form data and REST ``user_options`` into a checked
:class:`~mofang_spawner.planning.ServerPlan`, telling the user on the progress
page what was corrected, and keeping the plan in the spawner's state so it
survives a hub restart. The concrete spawner only *applies* the plan.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from jupyterhub.spawner import SpawnException
from traitlets import Any as AnyTrait
from traitlets import HasTraits, default

from mofang_spawner.config import MofangPolicy
from mofang_spawner.errors import MofangError
from mofang_spawner.form import form_options, render_form
from mofang_spawner.planning import (
    PLAN_ENV,
    Policy,
    ServerPlan,
    choices_from_options,
    plan_server,
)

__all__ = ["PLAN_ENV", "MofangSpawnerMixin", "spawn_exception"]


class MofangSpawnerMixin(HasTraits):
    """Policy, form and plan handling shared by MofangLocalSpawner and MofangSpawner.

    Put it first in the bases: ``class S(MofangSpawnerMixin, LocalProcessSpawner)``.
    """

    plan = AnyTrait(None, allow_none=True, help="The ServerPlan of the running server.")

    # Attributes the JupyterHub Spawner base provides.
    user: Any
    config: Any
    log: Any
    user_options: dict[str, Any]

    _policy_cache: Policy | None = None

    @property
    def policy(self) -> Policy:
        """The validated policy from ``c.MofangPolicy`` (validated once per spawner)."""
        if self._policy_cache is None:
            self._policy_cache = MofangPolicy(config=self.config).policy()
        return self._policy_cache

    @property
    def user_group_names(self) -> list[str]:
        return sorted(group.name for group in self.user.groups)

    @default("options_form")
    def _mofang_options_form(self) -> Any:
        def form(spawner: MofangSpawnerMixin) -> str:
            return render_form(spawner.user_group_names, spawner.policy)

        return form

    def options_from_form(self, formdata: Mapping[str, Sequence[Any]]) -> dict[str, str]:
        """Form POST → ``user_options``, checked now so a refusal re-renders the form."""
        try:
            options = form_options(formdata)
        except MofangError as exc:
            raise spawn_exception(exc) from exc
        self.make_plan(options)
        return options

    def make_plan(self, user_options: Mapping[str, Any] | None = None) -> ServerPlan:
        """Plan a server for this spawner's user, or raise a SpawnException to show them."""
        try:
            choices = choices_from_options(user_options or {})
            return plan_server(self.user.name, self.user_group_names, choices, self.policy)
        except MofangError as exc:
            raise spawn_exception(exc) from exc

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        """Progress events: first what the policy corrected, then the spawner's own."""
        plan = self.plan
        # The progress stream may open before start() has planned: wait for it.
        while plan is None and getattr(self, "_spawn_pending", False):
            await asyncio.sleep(0.05)
            plan = self.plan
        if isinstance(plan, ServerPlan):
            for message in plan.corrections:
                yield {"progress": 5, "message": f"Adjusted to your group's limits: {message}"}
            yield {
                "progress": 10,
                "message": f"Starting '{plan.template.display_name}' in group "
                f"'{plan.group.display_name}'",
            }
        parent = super()
        if hasattr(parent, "progress"):
            async for event in parent.progress():
                yield event

    def get_state(self) -> dict[str, Any]:
        state: dict[str, Any] = super().get_state()  # type: ignore[misc]
        if isinstance(self.plan, ServerPlan):
            state["mofang_plan"] = self.plan.to_json()
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        super().load_state(state)  # type: ignore[misc]
        if "mofang_plan" in state:
            try:
                self.plan = ServerPlan.from_json(state["mofang_plan"])
            except ValueError:
                self.log.warning("Discarding unreadable Mofang plan in %s's state", self.user.name)

    def clear_state(self) -> None:
        super().clear_state()  # type: ignore[misc]
        self.plan = None


def spawn_exception(exc: MofangError) -> SpawnException:
    return SpawnException(
        exc.message,
        reason=f"mofang-{type(exc).__name__}",
        status_code=exc.status_code,
    )
