"""Debian's Chromium for the browser tests: where it is, when to skip, how to launch it.

Browsers cannot be downloaded on these machines, so the tests drive the system
Chromium (``MOFANG_CHROMIUM``, default ``/usr/bin/chromium``) through
Playwright. The flags keep it from reaching for the network, which is closed.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

__all__ = ["CHROMIUM", "launch", "needs_chromium"]

CHROMIUM = os.environ.get("MOFANG_CHROMIUM", "/usr/bin/chromium")

_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def needs_chromium(sibling: str) -> pytest.MarkDecorator:
    """Skip when Chromium is absent, naming the ``sibling`` tests that run without it."""
    return pytest.mark.skipif(
        not shutil.which(CHROMIUM),
        reason=f"no Chromium at {CHROMIUM} (apt-get install chromium, or set MOFANG_CHROMIUM); "
        f"{sibling}",
    )


def launch(playwright: Any) -> Any:
    """A headless Chromium browser from a started ``sync_playwright()``."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=_ARGS)
