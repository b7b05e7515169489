"""IPython magics: submit the open notebook as a job and follow it, from a cell.

``%mofang_submit [flags]`` (the same flags as ``mofang submit``; ``--help``
lists them), ``%mofang_jobs``, ``%mofang_logs JOB [-f] [--replica R]`` and
``%mofang_cancel JOB``; ``%mofang_sweep [flags]`` (the flags of ``mofang
sweep``) runs a hyperparameter sweep over this notebook's parameters cell and
``%mofang_sweeps [SWEEP]`` lists sweeps or shows one's trials. They go
through the server extension's REST API with
:class:`~mofang_lab.client.MofangClient`, like the sidebar and the CLI, so
there is one source of truth. A kernel started by a Jupyter server knows its
notebook from ``JPY_SESSION_NAME``; the magic submits that file as saved on
disk, so save the notebook first (JupyterLab's submit button does it for you).

The magics are loaded in every IPython kernel by the configuration file the
package installs (``etc/ipython/ipython_kernel_config.py``); ``%load_ext
mofang_lab`` loads them by hand. Bad flags and refused requests raise
IPython's ``UsageError``: a one-line message, no traceback, and "Run all" stops.
"""

from __future__ import annotations

import argparse
import html
import os
import shlex
import sys
from pathlib import Path
from typing import Any, NoReturn

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.display import display as _display

from mofang_lab.cli.jobs import format_jobs, print_submitted, wait_for
from mofang_lab.cli.submit import add_submit_arguments, request_from_args
from mofang_lab.cli.sweep import (
    add_sweep_arguments,
    format_sweeps,
    format_trials,
    wait_for_sweep,
)
from mofang_lab.cli.sweep import request_from_args as sweep_request_from_args
from mofang_lab.client import MofangClient, find_server
from mofang_spawner.errors import MofangError

__all__ = ["JobView", "JobsView", "MofangMagics", "SweepView"]


class _HelpShown(Exception):
    """--help was printed; the magic has nothing else to do."""


class _MagicParser(argparse.ArgumentParser):
    """argparse that reports to the notebook instead of exiting the kernel."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see {self.prog} --help)")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            raise UsageError(message.strip())
        raise _HelpShown


def _parser(name: str, description: str) -> _MagicParser:
    parser = _MagicParser(prog=f"%{name}", description=description, add_help=True)
    parser.add_argument("--url", help="the Jupyter server's URL (default: this kernel's)")
    parser.add_argument("--token", help="a token for that server")
    return parser


def _submit_parser() -> _MagicParser:
    parser = _parser(
        "mofang_submit",
        "Submit this notebook (as saved on disk) as a job. --workers counts the Master "
        "for pytorch jobs.",
    )
    parser.add_argument("--notebook", help="submit another notebook (a path)")
    add_submit_arguments(parser)
    return parser


def _sweep_parser() -> _MagicParser:
    parser = _parser(
        "mofang_sweep",
        "Run a hyperparameter sweep over this notebook (as saved on disk): each trial "
        "runs it as a job with values for variables of its cell tagged 'parameters', and "
        "reports the objective on stdout (mofang_lab.sweeps.report(accuracy=...)).",
    )
    parser.add_argument("--notebook", help="sweep another notebook (a path)")
    add_sweep_arguments(parser)
    return parser


class SweepView:
    """A sweep: its state, best trial and trials; an HTML table in JupyterLab."""

    def __init__(self, sweep: dict[str, Any]) -> None:
        self.sweep = sweep

    def __repr__(self) -> str:
        return format_trials(self.sweep)

    def _repr_html_(self) -> str:
        sweep = self.sweep
        metric = sweep["settings"]["objective"]["metric"]
        names = [p["name"] for p in sweep["settings"]["parameters"]]
        best = sweep.get("best")
        best_number = best["number"] if best else None
        summary = (
            f"<p><b>{html.escape(sweep['id'])}</b>: <b>{html.escape(sweep['state'])}</b> "
            f"{html.escape(sweep['message'])}</p>"
        )
        head = "".join(
            f"<th>{html.escape(h)}</th>" for h in ("#", "state", metric, "steps", *names, "job")
        )
        rows = []
        for trial in sweep.get("trials", []):
            cells = [
                str(trial["number"]),
                trial["state"],
                "" if trial["objective"] is None else f"{trial['objective']:.4g}",
                str(len(trial["reports"].get(metric, []))),
                *(_cell(trial["parameters"].get(name)) for name in names),
                trial["job_id"] or "",
            ]
            style = ' style="font-weight:bold"' if trial["number"] == best_number else ""
            rows.append(
                f"<tr{style}>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>"
            )
        return (
            f"{summary}<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"
        )


def _cell(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class JobsView:
    """A list of jobs: an HTML table in JupyterLab, the CLI's table as text."""

    def __init__(self, jobs: list[dict[str, Any]]) -> None:
        self.jobs = jobs

    def __repr__(self) -> str:
        return format_jobs(self.jobs)

    def _repr_html_(self) -> str:
        if not self.jobs:
            return f"<p>{html.escape(format_jobs(self.jobs))}</p>"
        head = "".join(
            f"<th>{h}</th>" for h in ("id", "state", "kind", "replicas", "created", "folder")
        )
        rows = "".join(
            "<tr>"
            f"<td><code>{html.escape(job['id'])}</code></td>"
            f"<td>{html.escape(job['state'])}</td>"
            f"<td>{html.escape(job['kind'])}</td>"
            f"<td>{len(job['replicas'])}</td>"
            f"<td>{html.escape(job['created_at'][:19].replace('T', ' '))}</td>"
            f"<td><code>{html.escape(job['folder'])}/</code></td>"
            "</tr>"
            for job in self.jobs
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


class JobView:
    """One job: its state, replicas, and a link to its folder in the file browser."""

    def __init__(self, job: dict[str, Any], folder_link: str | None = None) -> None:
        self.job = job
        self.folder_link = folder_link

    def __repr__(self) -> str:
        job = self.job
        lines = [f"{job['id']} ({job['kind']}): {job['state']}  {job['message']}".rstrip()]
        lines += [
            f"  {r['name']}: {r['state']}"
            + (f" (exit code {r['exit_code']})" if r["exit_code"] is not None else "")
            for r in job["replicas"]
        ]
        lines.append(f"  files and logs: {job['folder']}/")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        job = self.job
        folder = html.escape(job["folder"])
        link = (
            f'<a href="{html.escape(self.folder_link)}" target="_blank">{folder}/</a>'
            if self.folder_link
            else f"<code>{folder}/</code>"
        )
        replicas = ", ".join(
            f"{html.escape(r['name'])}: {html.escape(r['state'])}" for r in job["replicas"]
        )
        message = f" {html.escape(job['message'])}" if job["message"] else ""
        return (
            f"<p><b>{html.escape(job['id'])}</b> ({html.escape(job['kind'])}): "
            f"<b>{html.escape(job['state'])}</b>{message}<br>"
            f"Replicas: {replicas}<br>Notebook, program and logs: {link}</p>"
        )


@magics_class
class MofangMagics(Magics):
    """``%mofang_submit``, ``%mofang_jobs``, ``%mofang_logs``, ``%mofang_cancel``."""

    def _client(self, args: argparse.Namespace) -> MofangClient:
        return MofangClient(find_server(args.url, args.token))

    def _parse(self, parser: _MagicParser, line: str) -> argparse.Namespace | None:
        try:
            return parser.parse_args(shlex.split(line))
        except _HelpShown:
            return None
        except ValueError as exc:  # shlex: an unclosed quote
            raise UsageError(f"{parser.prog}: {exc}") from exc

    @line_magic
    def mofang_submit(self, line: str) -> None:
        """Submit this notebook as a job: %mofang_submit --kind pytorch --workers 2 [--wait]."""
        args = self._parse(_submit_parser(), line)
        if args is None:
            return
        notebook = args.notebook or self._notebook_path()
        try:
            client = self._client(args)
            result = client.submit(request_from_args(args, str(Path(notebook).resolve())))
            if args.dry_run:
                print(result["program"])
                return
            print_submitted(result)
            if args.wait:
                result = wait_for(client, result, out=sys.stdout)
        except MofangError as exc:
            raise UsageError(str(exc)) from exc
        _show(JobView(result, _folder_link(result, Path(notebook).resolve())))

    @line_magic
    def mofang_jobs(self, line: str) -> None:
        """List your jobs."""
        args = self._parse(_parser("mofang_jobs", "List your jobs, newest first."), line)
        if args is None:
            return
        try:
            jobs = self._client(args).jobs()
        except MofangError as exc:
            raise UsageError(str(exc)) from exc
        _show(JobsView(jobs))

    @line_magic
    def mofang_logs(self, line: str) -> None:
        """Print a job's logs: %mofang_logs JOB [-f] [--replica worker-1]."""
        parser = _parser("mofang_logs", "Print the output of one replica of a job.")
        parser.add_argument("job", help="the job's id")
        parser.add_argument("--replica", help="master-0, worker-1, ps-0, ... (default: main)")
        parser.add_argument("-f", "--follow", action="store_true", help="follow while it runs")
        args = self._parse(parser, line)
        if args is None:
            return
        try:
            for chunk in self._client(args).logs(
                args.job, replica=args.replica, follow=args.follow
            ):
                sys.stdout.write(chunk)
                sys.stdout.flush()
        except MofangError as exc:
            raise UsageError(str(exc)) from exc

    @line_magic
    def mofang_cancel(self, line: str) -> None:
        """Cancel a job: %mofang_cancel JOB."""
        parser = _parser("mofang_cancel", "Stop every replica of a job.")
        parser.add_argument("job", help="the job's id")
        args = self._parse(parser, line)
        if args is None:
            return
        try:
            job = self._client(args).cancel(args.job)
        except MofangError as exc:
            raise UsageError(str(exc)) from exc
        _show(JobView(job))

    @line_magic
    def mofang_sweep(self, line: str) -> None:
        """Sweep this notebook's parameters: %mofang_sweep --param lr=double:1e-4:0.1:log ..."""
        args = self._parse(_sweep_parser(), line)
        if args is None:
            return
        notebook = args.notebook or self._notebook_path("mofang_sweep")
        try:
            client = self._client(args)
            sweep = client.create_sweep(
                sweep_request_from_args(args, str(Path(notebook).resolve()))
            )
            if args.dry_run:
                print(sweep["program"])
                return
            print(f"Started sweep {sweep['id']} of {sweep['notebook']}: {sweep['state']}.")
            if args.wait:
                sweep = wait_for_sweep(client, sweep, out=sys.stdout)
        except MofangError as exc:
            raise UsageError(str(exc)) from exc
        _show(SweepView(sweep))

    @line_magic
    def mofang_sweeps(self, line: str) -> None:
        """List your sweeps, or show one with its trials: %mofang_sweeps [SWEEP]."""
        parser = _parser("mofang_sweeps", "List your sweeps, or show one with its trials.")
        parser.add_argument("sweep", nargs="?", help="a sweep's id")
        args = self._parse(parser, line)
        if args is None:
            return
        try:
            client = self._client(args)
            if args.sweep:
                _show(SweepView(client.sweep(args.sweep)))
            else:
                print(format_sweeps(client.sweeps()))
        except MofangError as exc:
            raise UsageError(str(exc)) from exc

    def _notebook_path(self, magic: str = "mofang_submit") -> str:
        # A Jupyter server tells the kernel its notebook; IPython keeps it as __session__.
        user_ns = self.shell.user_ns if self.shell is not None else {}
        path = os.environ.get("JPY_SESSION_NAME") or user_ns.get("__session__")
        if not path or not str(path).endswith(".ipynb"):
            raise UsageError(
                f"%{magic} cannot tell which notebook this kernel runs; pass --notebook PATH."
            )
        return str(path)


def _show(view: object) -> None:
    _display(view)  # type: ignore[no-untyped-call]


def _folder_link(job: dict[str, Any], notebook: Path) -> str | None:
    """The job folder relative to the notebook's folder: JupyterLab opens such links."""
    relative_notebook = Path(job["spec"]["notebook"])
    if len(notebook.parts) <= len(relative_notebook.parts):
        return None
    root = Path(*notebook.parts[: len(notebook.parts) - len(relative_notebook.parts)])
    return os.path.relpath(root / job["folder"], notebook.parent) + "/"
