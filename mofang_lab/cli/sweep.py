"""``mofang sweep NOTEBOOK``, ``mofang sweeps``, ``mofang sweep-cancel``, ``mofang apply-best``.

The flags ``%mofang_sweep`` shares. A searched parameter is ``--param
NAME=TYPE:SPEC``, in Katib's parameter types:

* ``lr=double:0.001:0.1`` (uniform), ``lr=double:0.001:0.1:log`` (log-uniform),
  ``lr=double:0.1:0.5:0.1`` (with a step);
* ``layers=int:1:4``, ``units=int:16:256:log``, ``batch=int:32:256:32``;
* ``dropout=discrete:0.1,0.2,0.5`` (numbers), ``opt=categorical:adam,sgd`` (strings).

``--objective maximize:accuracy`` (or ``minimize:loss:0.05`` with a goal) names
the metric trials report on stdout. The trial's job takes the job flags of
``mofang submit`` that make sense for every trial (``--kind``, ``--workers``,
``--gpus``, ``--env``, ``--timeout``, ...); ``--set NAME=VALUE`` fixes a
variable of the parameters cell for every trial.

``--backend kubernetes --dry-run`` needs no server: it prints the Katib
``Experiment`` the sweep would be on a cluster (:mod:`.sweep_dryrun`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from mofang_lab.cli.submit import add_server_arguments
from mofang_lab.cli.submit import request_from_args as job_request
from mofang_lab.client import MofangClient, find_server
from mofang_lab.jobs.parameters import parse_assignments
from mofang_spawner.errors import InvalidRequestError, MofangError

__all__ = [
    "add_parser",
    "add_sweep_arguments",
    "format_trials",
    "parse_param",
    "request_from_args",
    "wait_for_sweep",
]

# Katib's algorithm names (mofang_lab.sweeps.spec.ALGORITHMS, which the server checks);
# listed here so that the kernel's magics load without pydantic.
ALGORITHMS = (
    "random",
    "grid",
    "tpe",
    "multivariate-tpe",
    "cmaes",
    "bayesianoptimization",
    "hyperband",
)
_SYNTAX = (
    "write NAME=double:MIN:MAX[:log|:STEP], NAME=int:MIN:MAX[:log|:STEP], "
    "NAME=discrete:V1,V2,... or NAME=categorical:A,B,..."
)


def parse_param(text: str) -> dict[str, Any]:
    """``lr=double:0.001:0.1:log`` -> the REST API's parameter object."""
    name, sep, spec = text.partition("=")
    kind, _, rest = spec.partition(":")
    name, kind = name.strip(), kind.strip()
    if not sep or not name or not rest:
        raise InvalidRequestError(f"--param {text!r}: {_SYNTAX}.")
    if kind in ("discrete", "categorical"):
        values = [v.strip() for v in rest.split(",") if v.strip()]
        if kind == "discrete":
            return {"type": kind, "name": name, "values": [_number(text, v, float) for v in values]}
        return {"type": kind, "name": name, "values": values}
    if kind not in ("double", "int"):
        raise InvalidRequestError(f"--param {text!r}: unknown type {kind!r}; {_SYNTAX}.")
    parts = rest.split(":")
    if len(parts) not in (2, 3):
        raise InvalidRequestError(f"--param {text!r}: {_SYNTAX}.")
    cast = float if kind == "double" else int
    parameter: dict[str, Any] = {
        "type": kind,
        "name": name,
        "min": _number(text, parts[0], cast),
        "max": _number(text, parts[1], cast),
    }
    if len(parts) == 3:
        if parts[2] == "log":
            parameter["distribution"] = "logUniform"
        else:
            parameter["step"] = _number(text, parts[2], cast)
    return parameter


def _number(text: str, value: str, cast: type[float] | type[int]) -> float:
    try:
        return cast(value)
    except ValueError:
        what = "a whole number" if cast is int else "a number"
        raise InvalidRequestError(f"--param {text!r}: {value!r} is not {what}.") from None


def _objective(text: str, metrics: list[str]) -> dict[str, Any]:
    direction, _, rest = text.partition(":")
    metric, _, goal = rest.partition(":")
    if direction not in ("maximize", "minimize") or not metric:
        raise InvalidRequestError(
            f"--objective {text!r}: write maximize:METRIC or minimize:METRIC[:GOAL], "
            "for example maximize:accuracy."
        )
    objective: dict[str, Any] = {
        "type": direction,
        "metric": metric,
        "additional_metrics": metrics,
    }
    if goal:
        try:
            objective["goal"] = float(goal)
        except ValueError:
            raise InvalidRequestError(f"--objective {text!r}: the goal must be a number.") from None
    return objective


def add_sweep_arguments(parser: argparse.ArgumentParser) -> None:
    """Every sweep flag but the notebook; the CLI and the magic share these."""
    search = parser.add_argument_group("search")
    search.add_argument(
        "--param",
        action="append",
        default=[],
        required=True,
        metavar="NAME=TYPE:SPEC",
        help="a searched variable of the cell tagged 'parameters': lr=double:0.001:0.1:log, "
        "layers=int:1:4, dropout=discrete:0.1,0.5, opt=categorical:adam,sgd",
    )
    search.add_argument(
        "--objective",
        required=True,
        metavar="maximize|minimize:METRIC[:GOAL]",
        help="the metric trials report (METRIC=VALUE lines) and its direction",
    )
    search.add_argument(
        "--metric", action="append", default=[], help="another metric to record (repeatable)"
    )
    search.add_argument("--algorithm", choices=ALGORITHMS, default="tpe", help="(%(default)s)")
    search.add_argument(
        "--algorithm-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a Katib algorithmSetting: n_startup_trials=5, random_state=1, ...",
    )
    search.add_argument("--parallel", type=int, default=3, help="trials at once (%(default)s)")
    search.add_argument("--max-trials", type=int, default=12, help="trials in all (%(default)s)")
    search.add_argument(
        "--max-failed", type=int, default=3, help="failed trials before the sweep fails (3)"
    )
    search.add_argument(
        "--early-stopping", action="store_true", help="stop trials doing worse (medianstop)"
    )
    search.add_argument("--min-trials-required", type=int, default=3, help="medianstop (3)")
    search.add_argument("--start-step", type=int, default=4, help="medianstop (4)")
    search.add_argument("--seed", type=int, help="seed of the search, for a repeatable sweep")
    trial = parser.add_argument_group("each trial's job")
    trial.add_argument(
        "--kind", choices=("pytorch", "tensorflow", "mpi", "python"), default="python"
    )
    trial.add_argument("--workers", type=int, help="pytorch: replicas, Master included")
    trial.add_argument("--gpus", type=int, default=0, help="GPUs per training replica")
    trial.add_argument("--cpu", type=float, help="CPU cores per training replica")
    trial.add_argument("--memory", type=float, metavar="GIB", help="memory per training replica")
    trial.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="fix a variable of the cell tagged 'parameters' for every trial",
    )
    trial.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    trial.add_argument("--timeout", type=float, metavar="SECONDS", help="fail a trial after this")
    trial.add_argument("--image", help="the trials' image (default: the server's)")
    parser.add_argument("--name", help="sweep name (default: the notebook's name)")
    parser.add_argument(
        "--dry-run", action="store_true", help="check and show a trial's job; start nothing"
    )
    parser.add_argument(
        "--backend",
        choices=("local", "kubernetes"),
        help="must match the server; kubernetes with --dry-run prints the Katib Experiment "
        "without a server",
    )
    parser.add_argument(
        "--namespace", help="kubernetes --dry-run: the Experiment's namespace (the server's)"
    )
    parser.add_argument("--wait", action="store_true", help="follow the sweep until it ends")


def request_from_args(args: argparse.Namespace, notebook: str) -> dict[str, Any]:
    """The REST request body for these flags; a bad value is an InvalidRequestError."""
    # The job flags a trial does not take get the values that mean "not asked for".
    fixed: dict[str, Any] = {
        "ps": 0,
        "chief": False,
        "nproc_per_node": None,
        "slots_per_worker": None,
    }
    fixed |= {
        "restart_policy": "Never",
        "backoff_limit": 0,
        "backend": getattr(args, "backend", None),
        "name": None,
    }
    job_flags = argparse.Namespace(**{**vars(args), **fixed, "param": args.set, "dry_run": False})
    trial = job_request(job_flags, notebook)
    for field in ("notebook", "name", "idempotency_key", "dry_run"):
        trial.pop(field, None)
    if getattr(args, "image", None):
        trial["image"] = args.image
    settings: dict[str, Any] = {
        "parameters": [parse_param(text) for text in args.param],
        "objective": _objective(args.objective, args.metric),
        "algorithm": {
            "name": args.algorithm,
            "settings": {k: str(v) for k, v in parse_assignments(args.algorithm_setting).items()},
        },
        "parallel_trials": args.parallel,
        "max_trials": args.max_trials,
        "max_failed_trials": args.max_failed,
    }
    if args.early_stopping:
        settings["early_stopping"] = {
            "min_trials_required": args.min_trials_required,
            "start_step": args.start_step,
        }
    if args.seed is not None:
        settings["seed"] = args.seed
    request: dict[str, Any] = {
        "notebook": notebook,
        "settings": settings,
        "trial": trial,
        "dry_run": args.dry_run,
    }
    if args.name:
        request["name"] = args.name
    return request


# --- text shared with the magic ------------------------------------------------------


def _value(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def format_trials(sweep: dict[str, Any]) -> str:
    """The sweep's state, best trial and a plain-text table of its trials."""
    metric = sweep["settings"]["objective"]["metric"]
    lines = [f"{sweep['id']}: {sweep['state']} {sweep['message']}".rstrip()]
    best = sweep.get("best")
    if best:
        values = ", ".join(f"{k}={_value(v)}" for k, v in best["parameters"].items())
        lines.append(
            f"best: trial {best['number']}, {metric}={_value(best['objective'])} ({values})"
        )
    names = [p["name"] for p in sweep["settings"]["parameters"]]
    rows = [("#", "STATE", metric.upper(), "STEPS", *names, "JOB")]
    for trial in sweep.get("trials", []):
        objective = trial["objective"]
        rows.append(
            (
                str(trial["number"]),
                trial["state"],
                "" if objective is None else _value(objective),
                str(len(trial["reports"].get(metric, []))),
                *(_value(trial["parameters"].get(name)) for name in names),
                trial["job_id"] or "",
            )
        )
    return "\n".join([*lines, _table(rows)])


def format_sweeps(sweeps: list[dict[str, Any]]) -> str:
    if not sweeps:
        return "No sweeps yet: `mofang sweep NOTEBOOK --param ... --objective ...` starts one."
    rows = [("ID", "STATE", "TRIALS", "BEST", "NOTEBOOK")]
    for sweep in sweeps:
        best = sweep.get("best")
        rows.append(
            (
                sweep["id"],
                sweep["state"],
                str(sum(sweep["counts"].values())),
                "" if not best else _value(best["objective"]),
                sweep["notebook"],
            )
        )
    return _table(rows)


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def wait_for_sweep(
    client: MofangClient, sweep: dict[str, Any], out: TextIO | None = None, poll: float = 1.0
) -> dict[str, Any]:
    """Print each trial's state changes until the sweep ends; return the ended sweep."""
    out = out or sys.stdout
    start = time.monotonic()
    seen: dict[int, str] = {}
    while True:
        sweep = client.sweep(sweep["id"])
        for trial in sweep["trials"]:
            if seen.get(trial["number"]) != trial["state"]:
                seen[trial["number"]] = trial["state"]
                objective = "" if trial["objective"] is None else f" {_value(trial['objective'])}"
                print(
                    f"[{time.monotonic() - start:6.1f}s] trial {trial['number']} "
                    f"{trial['state']}{objective}",
                    file=out,
                    flush=True,
                )
        if sweep["state"] != "Running":
            return sweep
        time.sleep(poll)


# --- the subcommands -----------------------------------------------------------------


def add_parser(sub: Any) -> None:
    sweep = sub.add_parser(
        "sweep",
        help="run a hyperparameter sweep over a notebook's parameters",
        description="Search values of variables of the notebook's cell tagged 'parameters': "
        "each trial runs the notebook (as saved now) as a job and reports its objective "
        "on stdout (METRIC=VALUE, mofang_lab.sweeps.report).",
    )
    sweep.add_argument("notebook", help="the notebook (.ipynb)")
    add_sweep_arguments(sweep)
    add_server_arguments(sweep)
    sweep.set_defaults(run=run_sweep)

    sweeps = sub.add_parser("sweeps", help="list your sweeps, or show one with its trials")
    sweeps.add_argument("sweep", nargs="?", help="a sweep's id: show its trials")
    sweeps.add_argument("--json", action="store_true", help="print JSON")
    add_server_arguments(sweeps)
    sweeps.set_defaults(run=run_sweeps)

    cancel = sub.add_parser("sweep-cancel", help="cancel a sweep and its running trials")
    cancel.add_argument("sweep", help="the sweep's id")
    add_server_arguments(cancel)
    cancel.set_defaults(run=run_cancel)

    apply = sub.add_parser(
        "apply-best", help="write a sweep's best values into a notebook's parameters cell"
    )
    apply.add_argument("sweep", help="the sweep's id")
    apply.add_argument("notebook", help="the notebook to update (.ipynb)")
    add_server_arguments(apply)
    apply.set_defaults(run=run_apply_best)


def _client(args: argparse.Namespace) -> MofangClient:
    return MofangClient(find_server(args.url, args.token))


def _guarded(command: str, action: Any) -> int:
    try:
        result: int = action() or 0
    except MofangError as exc:
        print(f"mofang {command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return result


def run_sweep(args: argparse.Namespace) -> int:
    def sweep() -> int:
        if args.dry_run and args.backend == "kubernetes":
            from mofang_lab.cli.sweep_dryrun import run_dry_run

            body = request_from_args(args, str(Path(args.notebook).resolve()))
            print(run_dry_run(args, body), end="")
            return 0
        client = _client(args)
        result = client.create_sweep(request_from_args(args, str(Path(args.notebook).resolve())))
        if args.dry_run:
            print(json.dumps({"settings": result["settings"], "trial": result["trial"]}, indent=2))
            return 0
        print(f"Started sweep {result['id']} of {result['notebook']}: {result['state']}.")
        if args.wait:
            final = wait_for_sweep(client, result)
            print(format_trials(final))
            return 0 if final["state"] == "Succeeded" else 1
        return 0

    return _guarded("sweep", sweep)


def run_sweeps(args: argparse.Namespace) -> int:
    def show() -> None:
        client = _client(args)
        data: Any = client.sweep(args.sweep) if args.sweep else client.sweeps()
        if args.json:
            print(json.dumps(data, indent=2))
        else:
            print(format_trials(data) if args.sweep else format_sweeps(data))

    return _guarded("sweeps", show)


def run_cancel(args: argparse.Namespace) -> int:
    def cancel() -> None:
        sweep = _client(args).cancel_sweep(args.sweep)
        print(f"{sweep['id']}: {sweep['state']}")

    return _guarded("sweep-cancel", cancel)


def run_apply_best(args: argparse.Namespace) -> int:
    def apply() -> None:
        result = _client(args).apply_best(args.sweep, str(Path(args.notebook).resolve()))
        values = ", ".join(f"{k} = {v!r}" for k, v in result["parameters"].items())
        print(f"{result['notebook']}: {values} (trial {result['trial']}).")

    return _guarded("apply-best", apply)
