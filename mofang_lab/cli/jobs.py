"""``mofang jobs``, ``mofang logs JOB [-f]``, ``mofang cancel JOB``, and the text they print.

The printing functions (a table of jobs, a submitted job, progress while
waiting) are shared with the magics, which show the same text in a notebook
beside their HTML, so a job reads the same in a terminal and in a kernel.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from typing import Any, TextIO

from mofang_lab.client import MofangClient, find_server
from mofang_spawner.errors import MofangError

__all__ = [
    "add_parser",
    "format_jobs",
    "print_dry_run",
    "print_submitted",
    "wait_for",
]


def add_parser(sub: Any) -> None:
    jobs = sub.add_parser(
        "jobs", help="list your jobs", description="List your jobs, newest first."
    )
    _server_arguments(jobs)
    jobs.add_argument("--json", action="store_true", help="print the jobs as JSON")
    jobs.set_defaults(run=run_jobs)

    logs = sub.add_parser(
        "logs",
        help="print a job's logs",
        description="Print the output of one replica of a job (default: the Master, Chief, "
        "Launcher, or the python job's Worker).",
    )
    logs.add_argument("job", help="the job's id")
    logs.add_argument("--replica", help="which replica: master-0, worker-1, ps-0, ...")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing while it runs")
    _server_arguments(logs)
    logs.set_defaults(run=run_logs)

    cancel = sub.add_parser(
        "cancel", help="cancel a job", description="Stop every replica of a job."
    )
    cancel.add_argument("job", help="the job's id")
    _server_arguments(cancel)
    cancel.set_defaults(run=run_cancel)


def _server_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", help="the Jupyter server's URL (default: found automatically)")
    parser.add_argument("--token", help="a token for that server")


def _client(args: argparse.Namespace) -> MofangClient:
    return MofangClient(find_server(args.url, args.token))


def run_jobs(args: argparse.Namespace) -> int:
    return _guarded("jobs", lambda: _print_jobs(_client(args), as_json=args.json))


def _print_jobs(client: MofangClient, *, as_json: bool) -> None:
    jobs = client.jobs()
    print(json.dumps(jobs, indent=2) if as_json else format_jobs(jobs))


def run_logs(args: argparse.Namespace) -> int:
    def show() -> None:
        for chunk in _client(args).logs(args.job, replica=args.replica, follow=args.follow):
            sys.stdout.write(chunk)
            sys.stdout.flush()

    return _guarded("logs", show)


def run_cancel(args: argparse.Namespace) -> int:
    def cancel() -> None:
        job = _client(args).cancel(args.job)
        print(f"{job['id']}: {job['state']}")

    return _guarded("cancel", cancel)


def _guarded(command: str, action: Any) -> int:
    try:
        action()
    except MofangError as exc:
        print(f"mofang {command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


# --- text shared with the magics ----------------------------------------------------


def _replicas(job: dict[str, Any]) -> str:
    counts: dict[str, int] = {}
    for replica in job["replicas"]:
        counts[replica["type"]] = counts.get(replica["type"], 0) + 1
    return " ".join(f"{role}x{count}" for role, count in counts.items())


def _when(text: str | None) -> str:
    if not text:
        return ""
    return datetime.fromisoformat(text).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def format_jobs(jobs: list[dict[str, Any]]) -> str:
    """A plain-text table of jobs."""
    if not jobs:
        return "No jobs yet: `mofang submit NOTEBOOK` (or %mofang_submit) starts one."
    rows = [("ID", "STATE", "KIND", "REPLICAS", "CREATED", "FOLDER")]
    rows += [
        (
            job["id"],
            job["state"],
            job["kind"],
            _replicas(job),
            _when(job["created_at"]),
            job["folder"],
        )
        for job in jobs
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def print_submitted(job: dict[str, Any], out: TextIO | None = None) -> None:
    out = out or sys.stdout
    print(
        f"Submitted {job['id']} ({job['kind']}, {_replicas(job)}): {job['state']}. "
        f"Files and logs: {job['folder']}/",
        file=out,
        flush=True,
    )


def print_dry_run(result: dict[str, Any], out: TextIO | None = None) -> None:
    out = out or sys.stdout
    print(f"# backend: {result['backend']}; nothing was started", file=out)
    print(json.dumps({"spec": result["spec"], "objects": result["objects"]}, indent=2), file=out)
    print("# program.py:", file=out)
    print(result["program"], file=out, flush=True)


def wait_for(
    client: MofangClient, job: dict[str, Any], out: TextIO | None = None
) -> dict[str, Any]:
    """Print the job's state changes until it finishes; return the finished job."""
    out = out or sys.stdout
    start = time.monotonic()
    for event in client.events(job_id=job["id"]):
        detail = f": {event['message']}" if event.get("message") else ""
        print(
            f"[{time.monotonic() - start:6.1f}s] {job['id']} {event['state']}{detail}",
            file=out,
            flush=True,
        )
    final = client.job(job["id"])
    if final["state"] != "Succeeded":
        # The failed replica's log says why; without one, the main replica's.
        failed = [r for r in final["replicas"] if r["state"] == "Failed"]
        replica = (failed or final["replicas"])[0]
        print(
            f"Its log: {replica['log']}  (mofang logs {final['id']} --replica {replica['name']})",
            file=out,
            flush=True,
        )
    return final
