"""``MofangSpawner``: the Mofang policy applied to KubeSpawner's per-user pods.

The subclass is thin on purpose: the policy and the plan come from the mixin
and the pure planner, the pod's fields from the pure builders
(:func:`~mofang_spawner.kubernetes.objects.pod_traits`), which it assigns to
KubeSpawner's traits before KubeSpawner builds the Pod. What it does itself
is the order of a spawn:

1. plan (refusals and corrections as in the form);
2. count what the group holds on the cluster and fit the plan in the group's
   quota (``quota.py``), under a per-group lock so two spawns from this hub
   cannot both take the last GPU;
3. make sure the user's identity exists (``identity.py``,
   ``entitlements.py``): their service account, which the pod runs as and
   whose token the job backend in the pod submits jobs with, its binding to
   the namespace's jobs Role, and what their jobs may use, recorded first
   for the cluster's guard; on by default (``user_service_accounts``);
4. create the pod (and first a new user claim): a namespace ResourceQuota
   or an admission policy that refuses it ends the spawn with a message
   (``cluster.translate``), not a pod stuck Pending; where a claim is made
   first, a dry run of both asks the API server beforehand, so a refused pod
   leaves no claim made and deleted again (``dry_run``);
5. wait on the hub's shared watches of pods and events, which every spawn
   in progress reads (``reflectors.py``, ``waiting.py``): ready as soon as
   the pod's update says so and the server's port answers, or failed early
   with the reason (``events.py``).

Whatever fails after something was created, the pod and any claim made by
this spawn are deleted again; the user's identity is kept (it is theirs, like
their files, and their running jobs may still need it). A stop deletes the
pod with the same retry policy and waits until it is gone; a pod it cannot
delete is deleted later, in the background. Polling and state are KubeSpawner's.
"""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from jupyterhub.utils import maybe_future
from kubespawner import KubeSpawner
from traitlets import Bool, Dict, Float, List, TraitError, Unicode, default, validate

from mofang_spawner.errors import ConflictError, MofangError
from mofang_spawner.kubernetes.cluster import Cluster
from mofang_spawner.kubernetes.config import MofangStorage
from mofang_spawner.kubernetes.entitlements import (
    ENTITLEMENTS_CONFIG_MAP,
    entitlements_config_map,
    namespace_entitlements,
    user_entitlements,
)
from mofang_spawner.kubernetes.events import SpawnTracker
from mofang_spawner.kubernetes.identity import (
    DEFAULT_SERVICE_ACCOUNT_PREFIX,
    JOBS_ROLE,
    role_binding_manifest,
    service_account_manifest,
    service_account_name,
)
from mofang_spawner.kubernetes.labels import group_selector
from mofang_spawner.kubernetes.objects import MERGED_TRAITS, pod_traits, server_env
from mofang_spawner.kubernetes.quota import fit_quota, group_usage
from mofang_spawner.kubernetes.reflectors import SharedWatchesMixin
from mofang_spawner.kubernetes.stopping import StoppingMixin
from mofang_spawner.kubernetes.storage import StorageSettings, user_claim_manifests
from mofang_spawner.kubernetes.waiting import port_answers, wait_for_server
from mofang_spawner.mixin import MofangSpawnerMixin, spawn_exception
from mofang_spawner.planning import ServerPlan, member_groups, safe_name

__all__ = ["MofangSpawner"]

# One lock per resource group, for the whole hub process: quota check and pod
# creation of one group happen one spawn at a time.
_GROUP_LOCKS: dict[str, asyncio.Lock] = {}
#: (API server, namespace, account) -> the entitlements this hub process last recorded
#: and made the account and binding for: a later spawn with the same makes no API call.
_IDENTITIES: dict[tuple[str, str, str], str] = {}


class MofangSpawner(MofangSpawnerMixin, StoppingMixin, SharedWatchesMixin, KubeSpawner):  # type: ignore[misc]
    """Spawns single-user servers as Kubernetes pods, within the Mofang policy."""

    cpu_request_fraction = Float(
        1.0,
        min=0.01,
        max=1.0,
        config=True,
        help="""The CPU a pod requests (its guarantee), as a share of the CPU the plan gives
        it (its limit). 1 (the default) reserves all of it; 0.25 packs four times as many
        idle notebooks on a node, at the risk of contention when they all compute.""",
    )

    memory_request_fraction = Float(
        1.0,
        min=0.01,
        max=1.0,
        config=True,
        help="""The memory a pod requests (its guarantee), as a share of its planned memory
        (its limit). Below 1 a node may be overcommitted, and a pod using more than its
        request can be evicted under memory pressure.""",
    )

    fatal_grace_seconds = Float(
        5.0,
        min=0,
        config=True,
        help="""How long a spawn waits before failing on a cause that could still fix itself:
        no node with the requested GPUs, no node of the group's pool, a missing or
        unbound claim, a failing mount. Raise it if a cluster autoscaler adds GPU nodes
        (a spawn also waits as long as the autoscaler reports a scale-up).""",
    )

    dry_run = Bool(
        True,
        config=True,
        help="""Where a spawn makes claims (per-user claims, created when missing), first ask
        the API server to validate them and the pod (dryRun=All), so that a namespace
        ResourceQuota or an admission webhook that refuses the pod ends the spawn with its
        message before any claim is made.
        A spawn that creates only the pod makes no dry run: the create itself is refused
        with the same answer, turned into the same message, and creates nothing, so a
        dry run would only cost a request to the API server and the hub's CPU. Off: no
        dry run at all; a refused pod's new claims are deleted again.""",
    )

    wait_for_port = Bool(
        True,
        config=True,
        help="""Return from start only once the server's port accepts connections (checked
        with a pause growing from 0.03 to 0.25 s, for at most Spawner.http_timeout), so the hub's
        own check, which polls with growing pauses, succeeds at once. Turn it off if the
        hub cannot reach pod IPs directly (then the hub's check fails as well).""",
    )

    volcano_scheduler_names = List(
        Unicode(),
        ["volcano"],
        config=True,
        help="Scheduler names that are Volcano: pods they schedule get the group's queue in "
        "the scheduling.volcano.sh/queue-name annotation.",
    )

    pod_name_prefix = Unicode(
        "jupyter-",
        config=True,
        help="Prefix of server pod names, followed by the escaped user name (and "
        "'--' + the escaped server name for named servers).",
    )

    user_service_accounts = Bool(
        True,
        config=True,
        help="""Run each user's server as a service account of that user
        (service_account_prefix + the escaped user name), created on spawn if missing
        together with a RoleBinding to the namespace's jobs Role (jobs_role), and record
        what the user's jobs may use (claims, queues, node pools, priority classes) in the
        entitlements_config_map, which the cluster's guard checks every job against
        (hub-config/kubernetes/jobs). The token is mounted in the server's pod: the job
        backend submits the user's jobs with it, and the user holds it too, which is why
        it carries only the user's own rights. Install hub-config/kubernetes/jobs first
        (the hub needs its Role to create these objects). Off: the pod runs as
        KubeSpawner.service_account (by default without any token) and cannot submit
        jobs to the cluster.""",
    )

    service_account_prefix = Unicode(
        DEFAULT_SERVICE_ACCOUNT_PREFIX,
        config=True,
        help="Prefix of the users' service accounts, followed by the escaped user name. The "
        "guard applies to service accounts of this prefix only: change its matchConditions "
        "(hub-config/kubernetes/jobs/guard.yaml) with it.",
    )

    jobs_role = Unicode(
        JOBS_ROLE,
        config=True,
        help="The Role (in the spawner's namespace) each user's service account is bound to: "
        "what the job backend may do (hub-config/kubernetes/jobs/rbac.yaml). The hub needs "
        "the 'bind' verb on it.",
    )

    entitlements_config_map = Unicode(
        ENTITLEMENTS_CONFIG_MAP,
        config=True,
        help="The ConfigMap (in the spawner's namespace) where the hub records each user's "
        "entitlements on spawn, one key per user and field; the guard's binding names it as "
        "its parameter (paramRef.name), so change both together.",
    )

    job_service_accounts = List(
        Unicode(),
        ["default"],
        config=True,
        help="Service accounts the pods of users' jobs may run as (a pod that names none runs "
        "as 'default'); the guard refuses any other. Add the job backend's own, if "
        "c.KubernetesBackend.service_account names one.",
    )

    job_node_selector = Dict(
        value_trait=Unicode(),
        default_value={},
        config=True,
        help="Node labels (key: value) every user's job pods may select, beside their groups' "
        "node pools and GPU types' labels: for example the job backend's "
        "cpu_node_selector. The hub's own KubeSpawner.node_selector is allowed as well.",
    )

    job_tolerations = List(
        Dict(),
        config=True,
        help="Tolerations every user's job pods may have, beside those of their groups and GPU "
        "types (and the hub's KubeSpawner.tolerations), as a pod spells them: "
        "{key, operator, value, effect}.",
    )

    @validate("service_account_prefix")
    def _valid_prefix(self, proposal: Any) -> str:
        value: str = proposal["value"]
        try:
            service_account_name(user="x", prefix=value)
        except ValueError as exc:
            raise TraitError(f"MofangSpawner.service_account_prefix: {exc}") from exc
        return value

    @default("events_enabled")
    def _no_event_reflector(self) -> bool:
        # The spawn's wait reads the shared event watch itself and tells the user
        # what the events mean (waiting.py); KubeSpawner's progress would only
        # repeat them raw, and once a second.
        return False

    _storage: StorageSettings | None = None
    _configured: dict[str, Any] | None = None
    _progress_messages: list[str]

    # --- what a plan becomes -----------------------------------------------------

    @property
    def storage(self) -> StorageSettings:
        """The validated ``c.MofangStorage`` settings."""
        if self._storage is None:
            self._storage = MofangStorage(config=self.config).settings()
        return self._storage

    def server_pod_name(self) -> str:
        """A valid, collision-free pod name: users differing only in case or punctuation differ."""
        name = self.pod_name_prefix + safe_name(self.user.name)
        if self.name:
            name += "--" + safe_name(self.name)
        return name

    def apply_plan(self, plan: ServerPlan) -> None:
        """Set KubeSpawner's traits so that the Pod it builds runs ``plan``."""
        if self._configured is None:
            # The hub's own values, kept once: a spawner object serves many spawns.
            self._configured = {name: copy.deepcopy(getattr(self, name)) for name in MERGED_TRAITS}
        traits = pod_traits(
            plan=plan,
            storage=self.storage,
            configured=self._configured,
            cpu_request_fraction=self.cpu_request_fraction,
            memory_request_fraction=self.memory_request_fraction,
            volcano_schedulers=frozenset(self.volcano_scheduler_names),
        )
        for name, value in traits.items():
            setattr(self, name, value)
        self.pod_name = self.server_pod_name()
        if self.user_service_accounts:
            self.service_account = self.user_service_account()
            # Said explicitly: a chart or hub setting that hides the token would
            # leave the job backend without its credentials.
            self.automount_service_account_token = True
        self.dns_name = self.dns_name_template.format(namespace=self.namespace, name=self.pod_name)

    def get_env(self) -> dict[str, str]:
        env: dict[str, str] = super().get_env()
        if isinstance(self.plan, ServerPlan):
            env.update(server_env(plan=self.plan, storage=self.storage))
        return env

    async def pod_manifest(self) -> dict[str, Any]:
        """The Pod this spawner creates for its current plan, as the dict it sends."""
        pod = await self.get_pod_manifest()
        if self.modify_pod_hook:
            pod = await maybe_future(self.modify_pod_hook(self, pod))
        manifest: dict[str, Any] = self.api.api_client.sanitize_for_serialization(pod)
        return manifest

    def plan_for_spawn(self) -> ServerPlan:
        """The plan of this spawner's ``user_options``, before the live quota check."""
        return self.make_plan(self.user_options).model_copy(update={"backend": "kubernetes"})

    async def render(self, plan: ServerPlan) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Apply ``plan``; return the Pod and the new claims a spawn of it creates.

        The spawn itself and ``mofang plan`` both come through here.
        """
        self.plan = plan
        self.apply_plan(plan)
        return await self.pod_manifest(), self.claim_manifests(plan)

    def claim_manifests(self, plan: ServerPlan) -> list[dict[str, Any]]:
        """The claims this spawner creates when missing (the user's own, per-user mode)."""
        labels = {**self.common_labels, "app.kubernetes.io/managed-by": "mofang"}
        return user_claim_manifests(plan=plan, storage=self.storage, labels=labels)

    def user_service_account(self) -> str:
        """The name of this spawner's user's service account."""
        return service_account_name(user=self.user.name, prefix=self.service_account_prefix)

    def _identity_key(self) -> tuple[str, str, str]:
        host = str(getattr(getattr(self.api.api_client, "configuration", None), "host", ""))
        return (host, self.namespace, self.user_service_account())

    def identity_manifests(self, plan: ServerPlan) -> list[dict[str, Any]]:
        """The user's entitlements ConfigMap (their keys), service account and RoleBinding."""
        account = self.user_service_account()
        configured = self._configured or {}
        node_selector = {**(configured.get("node_selector") or {}), **self.job_node_selector}
        # KubeSpawner takes tolerations as a list, or as a dict of them.
        hub_tolerations = configured.get("tolerations") or []
        if isinstance(hub_tolerations, dict):
            hub_tolerations = list(hub_tolerations.values())
        tolerations = [*hub_tolerations, *self.job_tolerations]
        entitlements = user_entitlements(
            plan=plan,
            groups=member_groups(self.user_group_names, self.policy),
            gpu_types=self.policy.gpu_types,
            storage=self.storage,
            schedulers=self.volcano_scheduler_names,
            node_selector=node_selector,
            tolerations=tolerations,
        )
        data = {
            **namespace_entitlements(
                job_service_accounts=self.job_service_accounts,
                volcano_schedulers=self.volcano_scheduler_names,
            ),
            **entitlements.data(account),
        }
        labels = {**self.common_labels}
        return [
            entitlements_config_map(data=data, name=self.entitlements_config_map, labels=labels),
            service_account_manifest(user=self.user.name, name=account, labels=labels),
            role_binding_manifest(
                user=self.user.name,
                service_account=account,
                namespace=self.namespace,
                role=self.jobs_role,
                labels=labels,
            ),
        ]

    async def _ensure_identity(self, cluster: Cluster, plan: ServerPlan) -> None:
        """Record the user's entitlements, then make sure their account and binding exist.

        Entitlements first: the guard refuses every job of an account without
        them, so a spawn that fails halfway never leaves an account with rights
        and no limits.
        """
        config_map, account, binding = self.identity_manifests(plan)
        key = self._identity_key()
        recorded = json.dumps(config_map["data"], sort_keys=True)
        if _IDENTITIES.get(key) == recorded:
            return  # this hub made exactly this identity already: no API call needed
        await cluster.record_entitlements(config_map)
        if await cluster.create_service_account(account):
            self.log.info("Created service account %s", account["metadata"]["name"])
        if await cluster.create_role_binding(binding):
            self.log.info("Bound %s to Role %s", account["metadata"]["name"], self.jobs_role)
        _IDENTITIES[key] = recorded

    # --- a spawn -------------------------------------------------------------------

    async def _start(self) -> str:
        self._progress_messages = []
        # The progress page waits for this spawn's plan, not the last one's.
        self.plan = None
        plan = self.plan_for_spawn()
        cluster = self.cluster()
        created_claims: list[str] = []
        pod_created = False
        try:
            await self._start_shared_watches()
            lock = _GROUP_LOCKS.setdefault(plan.group.name, asyncio.Lock())
            async with lock:
                plan = await self._within_quota(plan, cluster)
                pod, claims = await self.render(plan)
                if self.user_service_accounts:
                    await self._ensure_identity(cluster, plan)
                if self.dry_run and claims:
                    for claim in claims:
                        await cluster.create_claim(claim, dry_run=True)
                    await self._create_pod(cluster, pod, dry_run=True)
                for claim in claims:
                    if await cluster.create_claim(claim):
                        created_claims.append(claim["metadata"]["name"])
                pod_created = True
                created = await self._create_pod(cluster, pod)
            tracker = SpawnTracker(
                plan=plan, pod_name=self.pod_name, grace_seconds=self.fatal_grace_seconds
            )
            tracker.uid = (created.get("metadata") or {}).get("uid")
            ready = await wait_for_server(
                subscribe=self._subscribe(self.pod_name),
                tracker=tracker,
                timeout=self.start_timeout,
                on_progress=self._progress_messages.append,
                answers=self._server_answers if self.wait_for_port else None,
                keep_watching=self._start_shared_watches,
                port_timeout=self.http_timeout,
            )
            await self._until_reflected(f"{self.namespace}/{self.pod_name}")
        except BaseException as exc:
            # Whatever failed, the next spawn checks the identity on the cluster again
            # (someone may have deleted the account).
            _IDENTITIES.pop(self._identity_key(), None)
            await self._clean_up(cluster, pod_created, created_claims)
            if isinstance(exc, MofangError):
                raise spawn_exception(exc) from exc
            raise
        self.pod_id = ready["metadata"]["uid"]
        url: str = self._get_pod_url(ready)
        return url

    async def _server_answers(self, pod: dict[str, Any]) -> bool:
        return await port_answers(self._get_pod_url(pod))

    def cluster(self) -> Cluster:
        """This spawner's namespace, through KubeSpawner's API client."""
        return Cluster(
            self.api,
            self.namespace,
            request_timeout=self.k8s_api_request_timeout,
            retry_timeout=self.k8s_api_request_retry_timeout,
            log=self.log,
        )

    async def _within_quota(self, plan: ServerPlan, cluster: Cluster) -> ServerPlan:
        policy = self.policy
        groups = [*policy.groups, *([policy.default_group] if policy.default_group else [])]
        group = next(g for g in groups if g.name == plan.group.name)
        if group.quota is None:
            return plan
        pods = await cluster.list_pods(group_selector(group.name))
        usage = group_usage(pods, exclude=self.server_pod_name())
        self.log.info("Group %s holds %s on the cluster (quota %s)", group.name, usage, group.quota)
        return fit_quota(
            plan=plan, groups=self.user_group_names, quota=group.quota, usage=usage, policy=policy
        )

    async def _create_pod(
        self, cluster: Cluster, pod: dict[str, Any], *, dry_run: bool = False
    ) -> dict[str, Any]:
        """Create (or dry-run) ``pod``, replacing a leftover pod of the same name."""
        name = pod["metadata"]["name"]
        for _ in range(3):
            try:
                return await cluster.create_pod(pod, dry_run=dry_run)
            except ConflictError:
                # A pod of this name is a server the hub no longer tracks (or one
                # still terminating): it is this user's, and it is in the way.
                self.log.info("Replacing leftover pod %s", name)
                await cluster.delete_pod(name)
                await self._until_gone(cluster, name)
        raise ConflictError(
            f"A pod named {name} exists and could not be replaced; ask an administrator "
            "to delete it."
        )

    async def _until_gone(self, cluster: Cluster, name: str) -> None:
        deadline = time.monotonic() + self.k8s_api_request_retry_timeout
        pause = 0.05
        while await cluster.read_pod(name) is not None:
            if time.monotonic() > deadline:
                return
            await asyncio.sleep(pause)
            pause = min(pause * 2, 1.0)

    async def _until_reflected(self, key: str) -> None:
        # KubeSpawner's poll() reads its shared pod cache: return only once that
        # cache has seen the running pod too, or the hub could take it for dead.
        # The wait reads the same cache's updates, so this is one look, unless
        # the cache was replaced meanwhile (a restarted watch lists again).
        deadline = time.monotonic() + self.k8s_api_request_timeout
        while not self.is_pod_running(self.pod_reflector.pods.get(key)):
            if time.monotonic() > deadline:
                self.log.warning("Pod %s is ready but not yet in the pod cache", key)
                return
            await asyncio.sleep(0.01)

    async def _clean_up(self, cluster: Cluster, pod_created: bool, claims: list[str]) -> None:
        """Delete what a failed spawn created, so nothing is left behind."""
        try:
            if pod_created:
                await cluster.delete_pod(self.pod_name)
            for name in claims:
                await cluster.delete_claim(name)
        except MofangError:
            self.log.exception("Could not clean up after %s's failed spawn", self.user.name)

    # --- progress ------------------------------------------------------------------

    async def progress(self) -> AsyncIterator[dict[str, Any]]:
        async for event in super().progress():
            yield event
        sent = 0
        percent = 20.0
        while True:
            messages = getattr(self, "_progress_messages", [])
            while sent < len(messages):
                percent += (90 - percent) / 4
                yield {"progress": int(percent), "message": messages[sent]}
                sent += 1
            future = self._start_future
            if future is None or future.done():
                return
            await asyncio.sleep(0.05)
