"""A fake Katib for the emulator: Experiments become Trials, Trials get jobs and results.

What Katib's controllers do, in miniature, as ``kube.on`` hooks:

* an ``Experiment`` is marked ``Created`` and ``Running``; while fewer than
  ``parallelTrialCount`` of its trials are active and fewer than
  ``maxTrialCount`` exist, a ``Trial`` is created with parameter assignments
  drawn from the search space (seeded: the same Experiment gets the same
  trials; a grid walks its points in order), owned by the Experiment and
  labelled ``katib.kubeflow.org/experiment``;
* a ``Trial``'s job is the trial template with the assignments substituted
  exactly as Katib substitutes them (text replacement of
  ``${trialParameters.NAME}`` in the JSON of ``trialSpec``, the trial's name
  for ``${trialSpec.Name}``), created in the emulator, so the object a real
  cluster would get is checked by the emulator's validation;
* the trial "runs": ``run_trial(job)`` (the test's) returns the metric
  reports its primary container printed, or None when the job failed; the
  fake sets the Trial's conditions and ``observation.metrics`` (``min``,
  ``max``, ``latest``, or ``unavailable``), as the StdOut collector and the
  trial controller do. With ``hold`` set, new trials stay ``Running`` until
  :meth:`FakeKatib.release` runs them (a sweep caught in the middle); the
  trial's job is owned by its Trial, so deleting the Experiment (foreground)
  deletes its Trials and their jobs;
* the Experiment's status follows: trial lists and counts, the current
  optimal trial, and ``Succeeded`` (goal or max trials reached) or ``Failed``
  (max failed trials reached) with Katib's reasons.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from tests.kube_emulator import KubeEmulator

Obj = dict[str, Any]
#: The test's trial: the substituted job in, metric reports (name -> values) out, or None.
RunTrial = Callable[[Obj], dict[str, list[float]] | None]

EXPERIMENT_LABEL = "katib.kubeflow.org/experiment"
GROUP, VERSION = "kubeflow.org", "v1beta1"
_PLACEHOLDER = re.compile(r"\$\{trialParameters\.(.+?)\}")


def register(kube: KubeEmulator, run_trial: RunTrial, *, hold: bool = False) -> FakeKatib:
    """Serve Experiments and Trials in ``kube`` and drive them with a fake Katib."""
    kube.register_crd(group=GROUP, version=VERSION, plural="experiments", kind="Experiment")
    kube.register_crd(group=GROUP, version=VERSION, plural="trials", kind="Trial")
    fake = FakeKatib(run_trial, hold=hold)
    kube.on(kind="Experiment", handler=fake.experiment_changed)
    kube.on(kind="Trial", handler=fake.trial_changed)
    return fake


def substitute(experiment: Obj, assignments: list[Obj], trial_name: str) -> Obj:
    """The trial's job: Katib's text substitution over the JSON of the trial spec."""
    template = experiment["spec"]["trialTemplate"]
    values = {a["name"]: a["value"] for a in assignments}
    text = json.dumps(template["trialSpec"])
    for parameter in template["trialParameters"]:
        reference = parameter["reference"]
        value = trial_name if reference == "${trialSpec.Name}" else values[reference]
        text = text.replace("${trialParameters." + parameter["name"] + "}", value)
    assert not _PLACEHOLDER.search(text), f"placeholders left: {_PLACEHOLDER.findall(text)}"
    job: Obj = json.loads(text)
    job.setdefault("metadata", {})["name"] = trial_name
    return job


def sample(experiment: Obj, index: int) -> list[Obj]:
    """Assignments of trial ``index``: Katib keeps every value as a string."""
    parameters = experiment["spec"]["parameters"]
    if experiment["spec"]["algorithm"]["algorithmName"] == "grid":
        return _grid_point(parameters, index)
    seed = hashlib.sha256(f"{experiment['metadata']['name']}/{index}".encode()).hexdigest()
    rng = random.Random(seed)  # noqa: S311 - repeatable trials, not a secret
    assignments = []
    for p in parameters:
        space = p["feasibleSpace"]
        if p["parameterType"] in ("discrete", "categorical"):
            value = rng.choice(space["list"])
        else:
            low, high = float(space["min"]), float(space["max"])
            if space.get("distribution") == "logUniform":
                number = math.exp(rng.uniform(math.log(low), math.log(high)))
            else:
                number = rng.uniform(low, high)
            value = str(round(number)) if p["parameterType"] == "int" else repr(number)
        assignments.append({"name": p["name"], "value": value})
    return assignments


def _grid_point(parameters: list[Obj], index: int) -> list[Obj]:
    assignments = []
    for p in reversed(parameters):
        space = p["feasibleSpace"]
        if "list" in space:
            values = list(space["list"])
        else:
            low, high = float(space["min"]), float(space["max"])
            step = float(space.get("step") or 1)
            count = int((high - low) / step + 1e-9) + 1
            values = [low + i * step for i in range(count)]
            if p["parameterType"] == "int":
                values = [str(int(v)) for v in values]
            else:
                values = [repr(v) for v in values]
        index, position = divmod(index, len(values))
        assignments.append({"name": p["name"], "value": values[position]})
    return list(reversed(assignments))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _true(obj: Obj, kind: str) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c["type"] == kind and c["status"] == "True" for c in conditions)


def _condition(kind: str, reason: str, message: str = "") -> Obj:
    return {
        "type": kind,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastUpdateTime": _now(),
        "lastTransitionTime": _now(),
    }


class FakeKatib:
    """Katib's Experiment and Trial controllers, as emulator hooks (one controller thread)."""

    def __init__(self, run_trial: RunTrial, *, hold: bool = False) -> None:
        self.run_trial = run_trial
        self.created: dict[str, int] = {}
        self.jobs: list[Obj] = []
        #: New trials wait, Running, for release() while this is set.
        self.hold = hold
        self._held: list[tuple[Obj, Obj]] = []
        self._lock = threading.Lock()

    def release(self, kube: KubeEmulator) -> None:
        """Run the held trials (those still there) and every later one at once."""
        with self._lock:
            self.hold = False
            held, self._held = self._held, []
        for trial, job in held:
            metadata = trial["metadata"]
            if kube.find("trials", metadata["namespace"], metadata["name"]) is None:
                continue  # deleted with its Experiment meanwhile
            self._run(kube, trial, job)

    # --- Experiments ----------------------------------------------------------------

    def experiment_changed(self, kube: KubeEmulator, event_type: str, obj: Obj) -> None:
        if event_type == "DELETED" or _true(obj, "Succeeded") or _true(obj, "Failed"):
            return
        metadata = obj["metadata"]
        if not (obj.get("status") or {}).get("conditions"):
            kube.patch_status(
                "experiments",
                metadata["namespace"],
                metadata["name"],
                {
                    "startTime": _now(),
                    "conditions": [
                        _condition("Created", "ExperimentCreated", "Experiment is created"),
                        _condition("Running", "ExperimentRunning", "Experiment is running"),
                    ],
                },
            )
            return
        self._reconcile(kube, kube.get("experiments", metadata["namespace"], metadata["name"]))

    def _trials(self, kube: KubeEmulator, experiment: Obj) -> list[Obj]:
        metadata = experiment["metadata"]
        return kube.list(
            "trials", metadata["namespace"], label_selector=f"{EXPERIMENT_LABEL}={metadata['name']}"
        )

    def _reconcile(self, kube: KubeEmulator, experiment: Obj) -> None:
        spec, metadata = experiment["spec"], experiment["metadata"]
        trials = self._trials(kube, experiment)
        ended = ("Succeeded", "Failed", "EarlyStopped", "Killed", "MetricsUnavailable")
        active = [t for t in trials if not any(_true(t, kind) for kind in ended)]
        key = f"{metadata['namespace']}/{metadata['name']}"
        created = self.created.get(key, len(trials))
        while len(active) < spec["parallelTrialCount"] and created < spec["maxTrialCount"]:
            active.append(self._create_trial(kube, experiment, created))
            created += 1
        self.created[key] = created

    def _create_trial(self, kube: KubeEmulator, experiment: Obj, index: int) -> Obj:
        metadata, spec = experiment["metadata"], experiment["spec"]
        suffix = hashlib.sha256(f"{metadata['uid']}/{index}".encode()).hexdigest()[:8]
        name = f"{metadata['name']}-{suffix}"
        assignments = sample(experiment, index)
        template = spec["trialTemplate"]
        return kube.create(
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "Trial",
                "metadata": {
                    "name": name,
                    "namespace": metadata["namespace"],
                    "labels": {EXPERIMENT_LABEL: metadata["name"]},
                    "ownerReferences": [
                        {
                            "apiVersion": f"{GROUP}/{VERSION}",
                            "kind": "Experiment",
                            "name": metadata["name"],
                            "uid": metadata["uid"],
                            "controller": True,
                        }
                    ],
                },
                "spec": {
                    "objective": spec["objective"],
                    "parameterAssignments": assignments,
                    "runSpec": substitute(experiment, assignments, name),
                    "primaryContainerName": template["primaryContainerName"],
                    "successCondition": template["successCondition"],
                    "failureCondition": template["failureCondition"],
                    "metricsCollector": spec["metricsCollectorSpec"],
                },
            }
        )

    # --- Trials ---------------------------------------------------------------------

    def trial_changed(self, kube: KubeEmulator, event_type: str, obj: Obj) -> None:
        metadata = obj["metadata"]
        if event_type == "ADDED":
            job = dict(obj["spec"]["runSpec"])
            job["metadata"] = {
                **job["metadata"],
                "namespace": metadata["namespace"],
                "ownerReferences": [
                    {
                        "apiVersion": f"{GROUP}/{VERSION}",
                        "kind": "Trial",
                        "name": metadata["name"],
                        "uid": metadata["uid"],
                        "controller": True,
                    }
                ],
            }
            self.jobs.append(kube.create(job))
            with self._lock:
                if self.hold:
                    self._held.append((obj, job))
                    running = [
                        _condition("Created", "TrialCreated"),
                        _condition("Running", "TrialRunning"),
                    ]
                    kube.patch_status(
                        "trials",
                        metadata["namespace"],
                        metadata["name"],
                        {"startTime": _now(), "conditions": running},
                    )
                    return
            self._run(kube, obj, job)
            return
        if event_type == "MODIFIED" and obj.get("status", {}).get("completionTime"):
            owner = metadata["labels"][EXPERIMENT_LABEL]
            experiment = kube.get("experiments", metadata["namespace"], owner)
            if not (_true(experiment, "Succeeded") or _true(experiment, "Failed")):
                self._update_experiment(kube, experiment)

    def _run(self, kube: KubeEmulator, trial: Obj, job: Obj) -> None:
        metadata = trial["metadata"]
        reports = self.run_trial(job)
        kube.patch_status(
            "trials", metadata["namespace"], metadata["name"], self._result(trial, reports)
        )

    def _result(self, trial: Obj, reports: dict[str, list[float]] | None) -> Obj:
        objective = trial["spec"]["objective"]
        names = [objective["objectiveMetricName"], *objective.get("additionalMetricNames", [])]
        running = [_condition("Created", "TrialCreated"), _condition("Running", "TrialRunning")]
        for condition in running[1:]:
            condition["status"] = "False"
        if reports is None:
            conditions = [*running, _condition("Failed", "TrialFailed", "Job has failed")]
            return {"conditions": conditions, "completionTime": _now()}
        metrics = []
        for name in names:
            values = reports.get(name) or []
            if values:
                metrics.append(
                    {
                        "name": name,
                        "min": repr(min(values)),
                        "max": repr(max(values)),
                        "latest": repr(values[-1]),
                    }
                )
            else:
                metrics.append(
                    {
                        "name": name,
                        "min": "unavailable",
                        "max": "unavailable",
                        "latest": "unavailable",
                    }
                )
        if not reports.get(names[0]):
            last = _condition(
                "MetricsUnavailable", "MetricsUnavailable", "Metrics are not available"
            )
        else:
            last = _condition("Succeeded", "TrialSucceeded", "Trial has succeeded")
        return {
            "conditions": [*running, last],
            "observation": {"metrics": metrics},
            "completionTime": _now(),
        }

    def _update_experiment(self, kube: KubeEmulator, experiment: Obj) -> None:
        spec, metadata = experiment["spec"], experiment["metadata"]
        trials = self._trials(kube, experiment)
        objective = spec["objective"]
        maximize = objective["type"] == "maximize"
        lists: dict[str, list[str]] = {}
        best: tuple[float, Obj] | None = None
        for trial in trials:
            state = next(
                (
                    kind
                    for kind in (
                        "Killed",
                        "Failed",
                        "Succeeded",
                        "EarlyStopped",
                        "Running",
                        "MetricsUnavailable",
                    )
                    if _true(trial, kind)
                ),
                "Pending",
            )
            lists.setdefault(state, []).append(trial["metadata"]["name"])
            for metric in (trial.get("status", {}).get("observation") or {}).get("metrics", []):
                if (
                    metric["name"] == objective["objectiveMetricName"]
                    and metric["max"] != "unavailable"
                ):
                    value = float(metric["max" if maximize else "min"])
                    if best is None or (value > best[0] if maximize else value < best[0]):
                        best = (value, trial)
        status: Obj = {
            "trials": len(trials),
            "trialsSucceeded": len(lists.get("Succeeded", [])),
            "trialsFailed": len(lists.get("Failed", [])),
            "trialMetricsUnavailable": len(lists.get("MetricsUnavailable", [])),
            "succeededTrialList": lists.get("Succeeded", []),
            "failedTrialList": lists.get("Failed", []),
        }
        if best is not None:
            status["currentOptimalTrial"] = {
                "bestTrialName": best[1]["metadata"]["name"],
                "parameterAssignments": best[1]["spec"]["parameterAssignments"],
                "observation": best[1]["status"]["observation"],
            }
        goal = objective.get("goal")
        failed = status["trialsFailed"] + status["trialMetricsUnavailable"]
        completed = sum(len(v) for k, v in lists.items() if k not in ("Running", "Pending"))
        conditions = experiment["status"]["conditions"]
        ending: Obj | None = None
        if (
            best is not None
            and goal is not None
            and (best[0] >= goal if maximize else best[0] <= goal)
        ):
            ending = _condition(
                "Succeeded",
                "ExperimentGoalReached",
                "Experiment has succeeded because Objective goal has reached",
            )
        elif failed and failed >= spec["maxFailedTrialCount"]:
            ending = _condition(
                "Failed",
                "ExperimentFailed",
                "Experiment has failed because max failed count has reached",
            )
        elif completed >= spec["maxTrialCount"]:
            ending = _condition(
                "Succeeded",
                "ExperimentMaxTrialsReached",
                "Experiment has succeeded because max trial count has reached",
            )
        if ending is not None:
            status["conditions"] = [*conditions, ending]
            status["completionTime"] = _now()
        kube.patch_status("experiments", metadata["namespace"], metadata["name"], status)
        if ending is None:
            self._reconcile(kube, kube.get("experiments", metadata["namespace"], metadata["name"]))
