"""Tell the hub a local server is ready as soon as it answers.

JupyterHub checks a new server with an exponential backoff (0.2 s, 0.4 s,
0.8 s, ...), so a server that is up after 2 s is often noticed only after 3 s.
The spawner instead probes every 50 ms before returning from ``start()``, so
the hub's first check succeeds; and when the process dies during start-up it
says so at once, with the end of its output, instead of letting the hub wait
for ``http_timeout``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from tornado.httpclient import AsyncHTTPClient, HTTPClientError

__all__ = ["wait_until_answering"]

_PROBE_INTERVAL = 0.05


async def wait_until_answering(
    url: str, *, timeout: float, exit_code: Callable[[], int | None]
) -> bool:
    """Probe ``url`` until any non-5xx answer; False on timeout.

    ``exit_code`` returns the server process's exit code once it has exited;
    an exit raises RuntimeError so the spawn fails now.
    """
    client = AsyncHTTPClient()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = exit_code()
        if code is not None:
            raise RuntimeError(f"the server process exited with code {code} while starting")
        try:
            await client.fetch(url, request_timeout=2, follow_redirects=False)
            return True
        except HTTPClientError as exc:
            if exc.code < 500 and exc.code != 599:
                return True
        except OSError:
            pass
        await asyncio.sleep(_PROBE_INTERVAL)
    return False
