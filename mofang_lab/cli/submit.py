"""``mofang submit NOTEBOOK``: submit a notebook as a job; the flags ``%mofang_submit`` shares.

The flags say what a data scientist thinks in (``--kind pytorch --workers 2
--gpus 1``) and :func:`request_from_args` turns them into the REST API's
request body, where roles are explicit. ``--workers N`` means:

* ``pytorch``: N training replicas in all, the Master included (``--workers 2``
  is a Master and one Worker, ``WORLD_SIZE=2``), as the Kubeflow SDK counts;
* ``tensorflow``: N Workers, beside ``--ps M`` parameter servers and ``--chief``;
* ``mpi``: N Workers (each with ``--slots-per-worker`` ranks) and the Launcher;
* ``python``: 1, the only value.

``--gpus``, ``--cpu`` and ``--memory`` are per training replica; parameter
servers, the Chief and the Launcher run on CPU.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from pathlib import Path
from typing import Any

from mofang_lab.jobs.parameters import parse_assignments
from mofang_spawner.errors import InvalidRequestError, MofangError

__all__ = ["add_parser", "add_submit_arguments", "request_from_args", "run"]

KINDS = ("pytorch", "tensorflow", "mpi", "python")


def add_submit_arguments(parser: argparse.ArgumentParser) -> None:
    """Every submit flag but the notebook; the CLI and the magic share these."""
    parser.add_argument("--kind", choices=KINDS, default="python", help="job kind (%(default)s)")
    parser.add_argument(
        "--workers",
        type=int,
        help="pytorch: training replicas, Master included; tensorflow, mpi: Workers",
    )
    parser.add_argument("--ps", type=int, default=0, help="tensorflow: parameter servers")
    parser.add_argument("--chief", action="store_true", help="tensorflow: add a Chief")
    parser.add_argument("--gpus", type=int, default=0, help="GPUs per training replica")
    parser.add_argument("--cpu", type=float, help="CPU cores per training replica")
    parser.add_argument("--memory", type=float, metavar="GIB", help="memory per training replica")
    parser.add_argument(
        "--nproc-per-node",
        type=int,
        metavar="N",
        help="pytorch: N processes per replica through torchrun (LOCAL_RANK, ...)",
    )
    parser.add_argument("--slots-per-worker", type=int, metavar="N", help="mpi: ranks per Worker")
    parser.add_argument("--name", help="job name (default: the notebook's name)")
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a variable of the cell tagged 'parameters' (VALUE: a Python literal)",
    )
    parser.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="environment variable"
    )
    parser.add_argument("--timeout", type=float, metavar="SECONDS", help="fail the job after this")
    parser.add_argument(
        "--restart-policy",
        choices=("Never", "OnFailure", "ExitCode"),
        default="Never",
        help="restart failed replicas (%(default)s)",
    )
    parser.add_argument(
        "--backoff-limit", type=int, default=3, metavar="N", help="restarts before failing (3)"
    )
    parser.add_argument("--backend", choices=("local", "kubernetes"), help="must match the server")
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would run and be created; start nothing"
    )
    parser.add_argument("--wait", action="store_true", help="follow the job until it finishes")


def add_server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="the Jupyter server's URL (default: found automatically)")
    parser.add_argument("--token", help="a token for that server")


def add_parser(sub: Any) -> None:
    parser = sub.add_parser(
        "submit",
        help="submit a notebook as a job",
        description="Submit a notebook (as saved on disk) as a job on your Jupyter server's "
        "backend. --workers counts the Master for pytorch jobs.",
    )
    parser.add_argument("notebook", type=Path, help="the notebook (.ipynb)")
    add_submit_arguments(parser)
    parser.add_argument(
        "--image", help="kubernetes --dry-run outside a server: the image to show (the server's)"
    )
    parser.add_argument(
        "--namespace", help="kubernetes --dry-run: the objects' namespace (the server's)"
    )
    add_server_arguments(parser)
    parser.set_defaults(run=run)


def request_from_args(args: argparse.Namespace, notebook: str) -> dict[str, Any]:
    """The REST request body for these flags; a bad flag value is an InvalidRequestError."""
    training: dict[str, Any] = {"gpus": args.gpus}
    if args.cpu is not None:
        training["cpu"] = args.cpu
    if args.memory is not None:
        training["memory_gib"] = args.memory
    roles: dict[str, Any] = {}
    workers = args.workers
    if args.kind == "pytorch":
        roles["Master"] = {"replicas": 1, "resources": training}
        if workers is not None and workers < 1:
            raise InvalidRequestError(f"--workers must be at least 1 (got {workers}).")
        if workers is not None and workers > 1:
            roles["Worker"] = {"replicas": workers - 1, "resources": training}
    else:
        roles["Worker"] = {"replicas": 1 if workers is None else workers, "resources": training}
    if args.kind == "tensorflow":
        if args.chief:
            roles["Chief"] = {"replicas": 1}
        if args.ps:
            roles["PS"] = {"replicas": args.ps}
    elif args.ps or args.chief:
        raise InvalidRequestError("--ps and --chief apply to tensorflow jobs only.")
    request: dict[str, Any] = {
        "notebook": notebook,
        "kind": args.kind,
        "roles": roles,
        "parameters": parse_assignments(args.param),
        "env": _env(args.env),
        "restart_policy": args.restart_policy,
        "backoff_limit": args.backoff_limit,
        "dry_run": args.dry_run,
        # A fresh key per invocation: the client's retries of this one submission
        # can never start a second job.
        "idempotency_key": uuid.uuid4().hex,
    }
    optional = {
        "name": args.name,
        "nproc_per_node": args.nproc_per_node,
        "slots_per_worker": args.slots_per_worker,
        "timeout_seconds": args.timeout,
        "backend": args.backend,
    }
    request.update({key: value for key, value in optional.items() if value is not None})
    return request


def _env(items: list[str]) -> dict[str, str]:
    env = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise InvalidRequestError(f"--env {item!r}: write NAME=VALUE.")
        env[name] = value
    return env


def run(args: argparse.Namespace) -> int:
    from mofang_lab.cli.jobs import print_dry_run, print_submitted, wait_for
    from mofang_lab.client import MofangClient, find_server

    try:
        request = request_from_args(args, str(args.notebook.resolve()))
        offline = args.dry_run and args.backend == "kubernetes"
        if args.namespace and not offline:
            raise InvalidRequestError(
                "--namespace only names the namespace of a --backend kubernetes --dry-run; "
                "a job runs in your server's namespace."
            )
        if args.image and not offline:
            request["image"] = args.image  # the server says whether it may be used
        if offline:
            # Rendered here, from the same builder the server's backend uses: no
            # server and no cluster needed.
            from mofang_lab.cli.submit_dryrun import run_dry_run

            print(run_dry_run(args, request), end="")
            return 0
        client = MofangClient(find_server(args.url, args.token))
        result = client.submit(request)
        if args.dry_run:
            print_dry_run(result)
            return 0
        print_submitted(result)
        if args.wait:
            final = wait_for(client, result, out=sys.stdout)
            return 0 if final["state"] == "Succeeded" else 1
    except MofangError as exc:
        print(f"mofang submit: {exc}", file=sys.stderr)
        return 2
    return 0
