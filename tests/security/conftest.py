"""Fixtures of the security and fault suite, and the tally it prints.

``backend_name`` parametrizes every test that runs jobs on a jupyter-server:
today the local backend; the Kubernetes job backend joins by adding its name
to ``BACKENDS`` and its server settings to :func:`backend_config` (the
emulator's fixture supplies the cluster). docs/security.md says which
backend each test covers.

Every test records how many hostile cases it tried per category with
:func:`tally`; a case that got through fails its test, so a green run means
"got through: 0". The totals are printed at the end of the run and are the
figures of docs/security.md.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from tests.jobs.conftest import Fetch, api, stop_replicas_under
from tests.security.users import TokenUsers

#: Job backends the suite runs against (see the module docstring).
BACKENDS = ["local"]

_TRIED: Counter[str] = Counter()


def tally(category: str, cases: int = 1) -> None:
    """Count ``cases`` hostile cases of ``category`` as tried."""
    _TRIED[category] += cases


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _TRIED:
        return
    failed = bool(terminalreporter.stats.get("failed"))
    terminalreporter.section("security cases tried")
    for category, count in sorted(_TRIED.items()):
        through = "see failures" if failed else "0"
        terminalreporter.write_line(f"{category:<16} tried {count:>6}   got through {through}")
    known = len(terminalreporter.stats.get("xfailed", []))
    if known:
        terminalreporter.write_line(
            f"known holes, open (xfail; docs/security.md, Findings): {known}"
        )


def backend_config(name: str) -> dict[str, Any]:
    """Server settings that run jobs on backend ``name``, with two users told apart by token."""
    if name != "local":  # pragma: no cover - the Kubernetes backend is added here
        raise LookupError(f"no settings for backend {name!r}")
    return {
        "ServerApp": {
            "jpserver_extensions": {"mofang_lab": True},
            "identity_provider_class": TokenUsers,
        },
        "LocalBackend": {"poll_interval": 0.05, "stop_grace_seconds": 3},
    }


@pytest.fixture(params=BACKENDS)
def backend_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def jp_server_config(backend_name: str) -> dict[str, Any]:
    return backend_config(backend_name)


@pytest.fixture(autouse=True)
def _no_replica_outlives_its_test(tmp_path: Path) -> Iterator[None]:
    yield
    stop_replicas_under(tmp_path)


async def refusal(jp_fetch: Fetch, *parts: str, **kw: Any) -> tuple[int, dict[str, Any]]:
    """Call the API expecting an error; its status and JSON body."""
    with pytest.raises(HTTPClientError) as info:
        await api(jp_fetch, *parts, **kw)
    assert info.value.response is not None, info.value
    return info.value.code, json.loads(info.value.response.body)


def answer_of(error: HTTPClientError) -> tuple[int, dict[str, Any]]:
    """The status and JSON body of an error answer."""
    if error.response is None:  # no answer at all: a transport failure, not a refusal
        raise error
    return error.code, json.loads(error.response.body)


def rows(database: Path, table: str) -> int:
    """Rows of ``table`` in a store that may not exist yet (0 then)."""
    if not database.exists():
        return 0
    with sqlite3.connect(database) as db:
        try:
            return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])  # noqa: S608
        except sqlite3.OperationalError:  # the file exists, the schema not yet
            return 0


def footprint(root: Path) -> dict[str, Any]:
    """What submissions leave in a user's files: records, job folders, replica state files."""
    jobs = root / "jobs"
    return {
        "jobs": rows(root / ".mofang" / "jobs.sqlite", "jobs"),
        "sweeps": rows(root / ".mofang" / "sweeps.sqlite", "sweeps"),
        "trials": rows(root / ".mofang" / "sweeps.sqlite", "trials"),
        "folders": sorted(p.name for p in jobs.iterdir()) if jobs.exists() else [],
        "replicas": sorted(str(p) for p in root.rglob(".run/*.json")),
    }
