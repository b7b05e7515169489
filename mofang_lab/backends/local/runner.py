"""The replica runner: starts one replica's command and records how it ended.

The local supervisor starts every replica through this small program (by its
file path, so nothing but the standard library is imported) as the leader of
a new session and process group. It writes a state file in the job folder's
``.run/`` when it starts (its pid and start time) and when the command ends
(the exit code, ``128 + N`` for a command killed by signal N, as container
runtimes report it). Because the state lives in the job folder and the runner
is not tied to the server, a server that restarts finds every replica either
still running (and takes it up again) or finished with a known exit code.

Usage: ``python runner.py STATE_FILE ATTEMPT -- COMMAND [ARG ...]``
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def start_ticks(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (Linux), to tell pids apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may contain spaces, so count from its ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[19])


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    if len(argv) < 5 or argv[3] != "--":
        print("usage: runner.py STATE_FILE ATTEMPT -- COMMAND [ARG ...]", file=sys.stderr)
        return 2
    state_path, attempt, command = Path(argv[1]), int(argv[2]), argv[4:]
    child: list[subprocess.Popen[bytes]] = []

    def forward(signum: int, frame: object) -> None:
        # A signal sent to the runner alone reaches the command too; the runner
        # itself stays to record the exit code. (A handler, not SIG_IGN, so the
        # command starts with the default dispositions.)
        for process in child:
            process.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    record: dict[str, Any] = {
        "pid": os.getpid(),
        "start_ticks": start_ticks(os.getpid()),
        "attempt": attempt,
        "started_at": time.time(),
    }
    _write(state_path, record)
    try:
        child.append(subprocess.Popen(command))
    except OSError as exc:
        print(f"mofang: cannot start {command[0]}: {exc}", file=sys.stderr, flush=True)
        code = 127
    else:
        returncode = child[0].wait()
        code = 128 - returncode if returncode < 0 else returncode
    _write(state_path, {**record, "exit_code": code, "finished_at": time.time()})
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
