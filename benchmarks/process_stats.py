"""What the benchmarks read about a process they started: peak memory and CPU time.

Peak RSS is the kernel's high-water mark (``VmHWM`` in ``/proc/PID/status``):
the most resident memory the process ever had, not a sample that could miss
a peak. CPU time is user + system seconds, from psutil.
"""

from __future__ import annotations

from pathlib import Path

import psutil

__all__ = ["cpu_seconds", "peak_rss_mib", "pid_from_file"]


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident memory so far, in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    # No /proc (not Linux): the current RSS, a lower bound of the peak.
    return float(psutil.Process(pid).memory_info().rss) / 2**20


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds the process has used (its children not included)."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def pid_from_file(path: Path) -> int:
    return int(path.read_text().strip())
