"""Reading a replica's log file, once or following it while the replica runs.

Replicas write their output straight into ``logs/<replica>.log`` in the job
folder (the runner's stdout and stderr are that file), so reading a log is
reading a growing file: from the start, in chunks, and with ``follow`` waiting
for more until the replica is finished for good. Text is decoded
incrementally, so a character split across two reads is not mangled.
"""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import AsyncIterator, Callable
from pathlib import Path

__all__ = ["read_log"]

_CHUNK = 64 * 1024


async def read_log(
    path: Path, *, follow: bool, finished: Callable[[], bool], poll_interval: float
) -> AsyncIterator[str]:
    """Chunks of ``path``; with ``follow``, until ``finished()`` and the file is drained."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    offset = 0
    while True:
        # Asked before reading, so output written just before the end is still read.
        done = not follow or finished()
        data = _read(path, offset)
        while data:
            offset += len(data)
            text = decoder.decode(data)
            if text:
                yield text
            data = _read(path, offset)
        if done:
            tail = decoder.decode(b"", final=True)
            if tail:
                yield tail
            return
        await asyncio.sleep(poll_interval)


def _read(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as log:
            log.seek(offset)
            return log.read(_CHUNK)
    except FileNotFoundError:
        return b""
