"""Sweep and trial state changes on the one event stream, ``GET /mofang/api/events``.

Job events and sweep events share the stream; its position is the cursor
``<job seq>:<sweep seq>``, so a client resumes both after the last event it
saw, and the job and sweep lists say where a client that loaded them starts.
Trials are tiny notebooks that print ``accuracy=...`` (no imports), so a sweep
takes a few seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from mofang_lab.handlers.events import parse_cursor
from mofang_lab.sweeps.request import SweepRequest
from mofang_lab.sweeps.store import SweepStore
from mofang_spawner.errors import InvalidRequestError
from tests.jobs.conftest import Fetch, TokenUsers, api, server_config
from tests.jobs.notebooks import write_notebook
from tests.sweeps.conftest import wait_sweep

Event = tuple[str, str, dict[str, Any]]
Reader = Callable[..., Awaitable[list[Event]]]

ALICE = {"Authorization": "token alice-token"}
BOB = {"Authorization": "token bob-token"}

#: Best at x = 0.3; prints one report per step.
QUADRATIC = [
    ("x = 0.5\nsteps = 2", ["parameters"]),
    "for step in range(steps):\n    print(f'accuracy={1 - (x - 0.3) ** 2}', flush=True)",
]


def quick_sweep(notebook: str, **settings: Any) -> dict[str, Any]:
    return {
        "notebook": notebook,
        "settings": {
            "parameters": [{"type": "double", "name": "x", "min": 0.0, "max": 1.0}],
            "objective": {"type": "maximize", "metric": "accuracy"},
            "algorithm": {"name": "random"},
            "parallel_trials": 1,
            "max_trials": 2,
            "seed": 7,
            **settings,
        },
    }


@pytest.fixture
def read_events(
    jp_http_port: int, jp_base_url: str, jp_auth_header: dict[str, str]
) -> Callable[..., Awaitable[list[Event]]]:
    """Reads the event stream (which never ends by itself) until a condition holds.

    A plain HTTP/1.0 connection, closed when done, as a browser tab is closed:
    ``await read_events(until, since=..., headers=...)`` gives (id, kind, data)
    of each event received.
    """

    async def read(
        until: Callable[[list[Event]], bool],
        *,
        headers: dict[str, str] | None = None,
        **params: str,
    ) -> list[Event]:
        query = urllib.parse.urlencode(params)
        path = f"{jp_base_url.rstrip('/')}/mofang/api/events?{query}"
        sent = {**jp_auth_header, **(headers or {})}
        reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
        request = f"GET {path} HTTP/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in sent.items())
        writer.write((request + "\r\n").encode())
        events: list[Event] = []
        try:
            head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 60)).decode()
            status = int(head.split()[1])
            if status != 200:
                raise AssertionError(f"{status}: {await reader.read()!r}")
            buffer = ""
            while not until(events):
                chunk = await asyncio.wait_for(reader.read(65536), 120)
                if not chunk:
                    raise AssertionError(f"the stream ended: {events}")
                *blocks, buffer = (buffer + chunk.decode()).split("\n\n")
                for block in blocks:
                    fields = dict(
                        line.split(": ", 1)
                        for line in block.splitlines()
                        if not line.startswith(":")
                    )
                    if "data" in fields:
                        events.append((fields["id"], fields["event"], json.loads(fields["data"])))
        finally:
            writer.close()
        return events

    return read


def sweep_events(events: list[Event]) -> list[dict[str, Any]]:
    return [data for _id, kind, data in events if kind == "sweep"]


async def test_sweep_and_trial_changes_are_pushed_in_order_with_a_resumable_cursor(
    jp_fetch: Fetch, jp_root_dir: Path, read_events: Reader
) -> None:
    write_notebook(jp_root_dir / "q.ipynb", QUADRATIC)
    created = await api(jp_fetch, "sweeps", method="POST", body=quick_sweep("q.ipynb"))
    sweep = await wait_sweep(jp_fetch, created["id"])
    assert sweep["state"] == "Succeeded", sweep

    def ended(events: list[Event]) -> bool:
        return any(e["trial"] is None and e["state"] != "Running" for e in sweep_events(events))

    events = await read_events(ended, since="0")
    mine = sweep_events(events)
    assert {e["sweep_id"] for e in mine} == {sweep["id"]}
    # The sweep starts, each trial goes Pending -> Running -> Succeeded, the sweep ends.
    changes = [(e["trial"]["number"] if e["trial"] else None, e["state"]) for e in mine]
    trial_states = [
        (e["trial"]["number"], e["trial"]["state"]) for e in mine if e["trial"] is not None
    ]
    assert changes[0] == (None, "Running") and changes[-1] == (None, "Succeeded")
    assert trial_states == [
        (0, "Pending"),
        (0, "Running"),
        (0, "Succeeded"),
        (1, "Pending"),
        (1, "Running"),
        (1, "Succeeded"),
    ]
    seqs = [e["seq"] for e in mine]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # Each event carries what a list shows: counts and the best trial so far.
    last = mine[-1]
    assert last["counts"] == {"Succeeded": 2} and last["best"] == sweep["best"]
    finished = next(e for e in mine if e["trial"] and e["trial"]["state"] == "Succeeded")
    assert finished["trial"]["objective"] == sweep["trials"][0]["objective"]
    assert finished["trial"]["job_id"] == sweep["trials"][0]["job_id"]
    # Job events (the trials' jobs) and sweep events share the stream; ids are cursors
    # whose parts each only grow, the sweep part being the sweep event's seq.
    assert {kind for _id, kind, _data in events} == {"job", "sweep"}
    cursors = [parse_cursor(event_id) for event_id, _kind, _data in events]
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in itertools.pairwise(cursors))
    for (event_id, kind, data), (job_seq, sweep_seq) in zip(events, cursors, strict=True):
        assert (job_seq if kind == "job" else sweep_seq) == data["seq"], event_id

    # Resuming after the fourth sweep event replays exactly the ones after it.
    middle = next(
        i for i, (_id, kind, data) in enumerate(events) if kind == "sweep" and data == mine[3]
    )
    resumed = await read_events(
        ended,
        headers={"Last-Event-ID": events[middle][0]},
    )
    assert sweep_events(resumed) == mine[4:]
    assert [d for _i, k, d in resumed if k == "job"] == [
        d for _i, k, d in events[middle + 1 :] if k == "job"
    ]


async def test_the_lists_say_where_the_stream_resumes(
    jp_fetch: Fetch, jp_root_dir: Path, read_events: Reader
) -> None:
    write_notebook(jp_root_dir / "q.ipynb", QUADRATIC)
    empty_jobs, empty_sweeps = await api(jp_fetch, "jobs"), await api(jp_fetch, "sweeps")
    assert (empty_jobs["event_seq"], empty_sweeps["event_seq"]) == (0, 0)
    first = await api(jp_fetch, "sweeps", method="POST", body=quick_sweep("q.ipynb"))
    await wait_sweep(jp_fetch, first["id"])
    jobs, sweeps = await api(jp_fetch, "jobs"), await api(jp_fetch, "sweeps")
    everything = await read_events(
        lambda events: len(sweep_events(events)) >= 8,  # 1 start + 3 per trial + 1 end
        since="0",
    )
    assert jobs["event_seq"] == max(d["seq"] for _i, k, d in everything if k == "job")
    assert sweeps["event_seq"] == max(d["seq"] for _i, k, d in everything if k == "sweep")

    # A client that loaded the lists and connects from their positions gets only new events.
    second = await api(jp_fetch, "sweeps", method="POST", body=quick_sweep("q.ipynb"))
    await wait_sweep(jp_fetch, second["id"])
    later = await read_events(
        lambda events: any(
            e["trial"] is None and e["state"] != "Running" for e in sweep_events(events)
        ),
        since=f"{jobs['event_seq']}:{sweeps['event_seq']}",
    )
    assert {e["sweep_id"] for e in sweep_events(later)} == {second["id"]}
    trial_jobs = {t["job_id"] for t in (await api(jp_fetch, "sweeps", second["id"]))["trials"]}
    assert {d["job_id"] for _i, k, d in later if k == "job"} == trial_jobs


async def test_a_cancelled_sweep_is_an_event(
    jp_fetch: Fetch, jp_root_dir: Path, read_events: Reader
) -> None:
    write_notebook(
        jp_root_dir / "slow.ipynb",
        [("x = 0.5", ["parameters"]), "import time\ntime.sleep(60)\nprint(f'accuracy={x}')"],
    )
    created = await api(jp_fetch, "sweeps", method="POST", body=quick_sweep("slow.ipynb"))
    await api(jp_fetch, "sweeps", created["id"], "cancel", method="POST")
    events = await read_events(
        lambda events: any(e["state"] == "Cancelled" for e in sweep_events(events)),
        since="0:0",
    )
    end = sweep_events(events)[-1]
    assert (end["trial"], end["state"], end["reason"]) == (None, "Cancelled", "Cancelled")
    assert end["counts"] == {"Cancelled": 1}


@pytest.mark.parametrize("since", ["x", "1:2:3", "-1", "1.5"])
async def test_a_bad_cursor_is_refused(jp_fetch: Fetch, since: str) -> None:
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("mofang", "api", "events", params={"since": since})
    assert info.value.code == 400
    assert info.value.response is not None
    assert "event cursor" in json.loads(info.value.response.body)["message"]


def test_cursors_read_both_numbers_and_plain_job_numbers() -> None:
    assert parse_cursor("12:5") == (12, 5)
    assert parse_cursor("12") == (12, 0)
    assert parse_cursor(" 0:0 ") == (0, 0)
    with pytest.raises(InvalidRequestError):
        parse_cursor("12:")


class TestPrivacy:
    @pytest.fixture
    def jp_server_config(self) -> dict[str, Any]:
        config = server_config()
        config["ServerApp"]["identity_provider_class"] = TokenUsers
        return config

    async def test_another_users_stream_carries_none_of_your_sweeps(
        self, jp_fetch: Fetch, jp_root_dir: Path, read_events: Reader
    ) -> None:
        write_notebook(jp_root_dir / "q.ipynb", QUADRATIC)
        alices = await api(
            jp_fetch, "sweeps", method="POST", body=quick_sweep("q.ipynb"), headers=ALICE
        )
        await wait_sweep(jp_fetch, alices["id"], headers=ALICE)
        bobs = await api(
            jp_fetch,
            "sweeps",
            method="POST",
            body=quick_sweep("q.ipynb", max_trials=1),
            headers=BOB,
        )
        await wait_sweep(jp_fetch, bobs["id"], headers=BOB)
        events = await read_events(
            lambda events: any(e["state"] == "Succeeded" for e in sweep_events(events)),
            headers=BOB,
            since="0",
        )
        assert {e["sweep_id"] for e in sweep_events(events)} == {bobs["id"]}
        assert (await api(jp_fetch, "sweeps", headers=BOB))["event_seq"] == max(
            e["seq"] for e in sweep_events(events)
        )


def test_a_store_from_before_events_and_keys_gets_them(tmp_path: Path) -> None:
    """A sweep store written before sweep events and keys existed opens and gets both."""
    import sqlite3

    path = tmp_path / "sweeps.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE sweeps (id TEXT PRIMARY KEY, owner TEXT NOT NULL, name TEXT NOT NULL,"
        " notebook TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '',"
        " message TEXT NOT NULL DEFAULT '', request TEXT NOT NULL, notebook_text TEXT NOT NULL,"
        " created_at REAL NOT NULL, finished_at REAL);"
    )
    old.close()
    changes: list[None] = []
    store = SweepStore(path, notify=lambda: changes.append(None))
    request = SweepRequest.model_validate(quick_sweep("q.ipynb"))
    store.insert(
        sweep_id="q-aaaaaa",
        owner="alice",
        name="q",
        notebook="q.ipynb",
        request=request,
        notebook_text="{}",
        idempotency_key="k1",
    )
    found = store.find_by_key("alice", "k1")
    assert found is not None and found[0].id == "q-aaaaaa" and found[1] == request
    assert store.find_by_key("bob", "k1") is None
    assert [e.state for e in store.events_since("alice", 0)] == ["Running"]
    assert store.last_seq("alice") == 1 and store.last_seq("bob") == 0
    assert changes == [None]
    with pytest.raises(sqlite3.IntegrityError):
        store.insert(
            sweep_id="q-bbbbbb",
            owner="alice",
            name="q",
            notebook="q.ipynb",
            request=request,
            notebook_text="{}",
            idempotency_key="k1",
        )
    store.close()


async def test_waiting_streams_wake_for_the_first_sweep(
    jp_fetch: Fetch, jp_root_dir: Path, read_events: Reader
) -> None:
    """A stream opened before any sweep exists (no store yet) sees the first one."""
    write_notebook(jp_root_dir / "q.ipynb", QUADRATIC)
    reading = asyncio.ensure_future(
        read_events(lambda events: len(sweep_events(events)) >= 1, since="0")
    )
    await asyncio.sleep(0.5)
    created = await api(jp_fetch, "sweeps", method="POST", body=quick_sweep("q.ipynb"))
    events = await asyncio.wait_for(reading, 60)
    assert sweep_events(events)[0]["sweep_id"] == created["id"]
    await api(jp_fetch, "sweeps", created["id"], "cancel", method="POST")
