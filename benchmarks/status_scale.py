"""Status at scale: 1,000 jobs through the REST API of a real Jupyter server with Mofang.

1,000 job records (PyTorch, TensorFlow, MPI and python jobs, each with its
replicas and its Created / Running / final events) are written through the
job store (:class:`mofang_lab.backends.store.JobStore`) into a temporary root
folder; no job process runs. A real ``jupyter server`` with the extension is
then started on that folder, and measured from this process over HTTP:

1. **Listing**: ``GET /mofang/api/jobs`` (all 1,000 jobs), alternating with
   jupyter-server's own listing of a folder of 1,000 files
   (``GET /api/contents/<folder>``, what the file browser asks) and its
   ``GET /api/status`` (the floor: an authenticated request that does
   nothing); p50 and p95 of each (target: p95 of the job list at most 50 ms).
2. **Replay**: how long a client that opens ``GET /mofang/api/events`` from
   the start (``since=0``, as the sidebar does when JupyterLab opens) takes to
   receive every stored event.
3. **Push delay**: a job's state is changed inside the server as a backend
   changes it (through the job store, then the backend's change notification;
   :mod:`benchmarks.status_hooks`), and the time from the stored event's time
   to the moment the client reading the events stream has it (target: at
   most 1 s). Beside it, in the same run, a client polling the job every
   second (what a UI without push does) and when it saw the change.
4. **Idle client**: one events stream open and nothing happening: the
   requests the server receives per minute, and the keep-alive comments that
   arrive on the stream.
5. **Peak RSS** of the server process (its kernel high-water mark), and of a
   second server without the extension that served the same folder listings.

    python -m benchmarks.status_scale            # 1,000 jobs, 200 rounds, 60 s idle
    python -m benchmarks.status_scale --quick    # checks it runs, not how fast
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import http.client
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from benchmarks.process_stats import peak_rss_mib
from benchmarks.stats import summary
from mofang_lab.backends.base import JobRecord, ReplicaStatus
from mofang_lab.backends.store import JobStore
from mofang_lab.jobs.ids import new_job_id
from mofang_lab.jobs.spec import JobSpec, replica_name
from mofang_lab.jobs.states import JobState, ReplicaState
from tests.jobs.server import free_port

ROOT = Path(__file__).resolve().parents[1]
#: Seconds without a new event after which a replaying stream counts as done.
QUIET = 2.0
KINDS: list[dict[str, Any]] = [
    {"kind": "pytorch", "roles": {"Master": {}, "Worker": {"replicas": 3}}},
    {"kind": "tensorflow", "roles": {"Chief": {}, "PS": {}, "Worker": {"replicas": 2}}},
    {"kind": "mpi", "roles": {"Launcher": {}, "Worker": {"replicas": 2}}},
    {"kind": "python", "roles": {"Worker": {}}},
]


def owner() -> str:
    """The owner a plain Jupyter server gives its token holder's jobs: its own account."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "owner"


def write_jobs(root: Path, count: int) -> list[str]:
    """``count`` finished jobs in the job store under ``root``; their ids, oldest first."""
    store = JobStore(root / ".mofang" / "jobs.sqlite")
    rng = random.Random(7)  # noqa: S311 - repeatable data, not a secret
    start = datetime.now(UTC) - timedelta(days=30)
    ids = []
    try:
        for i in range(count):
            shape = KINDS[i % len(KINDS)]
            name = f"train-{i:04d}"
            job_id = new_job_id(name)
            spec = JobSpec.model_validate(
                {
                    "name": name,
                    "notebook": f"experiments/{name}.ipynb",
                    "parameters": {"lr": rng.choice([0.1, 0.01, 0.001]), "epochs": 10},
                    "env": {"OMP_NUM_THREADS": "4"},
                    "idempotency_key": secrets.token_hex(8),
                    **shape,
                }
            )
            folder = f".mofang/jobs/{job_id}"
            replicas = tuple(
                ReplicaStatus(
                    name=replica_name(role, index),
                    type=role,
                    index=index,
                    state=ReplicaState.PENDING,
                    log=f"{folder}/logs/{replica_name(role, index)}.log",
                )
                for role, index in spec.replicas()
            )
            record = JobRecord(
                id=job_id,
                owner=owner(),
                name=name,
                kind=spec.kind,
                backend="local",
                state=JobState.CREATED,
                folder=folder,
                created_at=start + timedelta(minutes=40 * i),
                spec=spec,
                replicas=replicas,
            )
            store.insert(record, network={"host": "127.0.0.1", "ports": [29500]}, devices={})
            store.set_job_state(job_id, JobState.RUNNING)
            final = rng.choices(
                [JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED], [8, 1, 1]
            )[0]
            for replica in replicas:
                store.set_replica(
                    job_id,
                    replica.name,
                    state=ReplicaState.FAILED
                    if final == JobState.FAILED
                    else ReplicaState.SUCCEEDED,
                    exit_code=1 if final == JobState.FAILED else 0,
                )
            store.set_job_state(job_id, final, reason="Finished", message="all replicas ended")
            ids.append(job_id)
    finally:
        store.close()
    return ids


@dataclass
class Server:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    log: Path

    def __post_init__(self) -> None:
        self.session = self.new_session()

    def new_session(self) -> requests.Session:
        """A client of this server (one per thread: a session is not shared between threads)."""
        session = requests.Session()
        session.headers["Authorization"] = f"token {self.token}"
        return session

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.url + path, timeout=30, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.post(self.url + path, timeout=30, **kwargs)


@contextmanager
def jupyter_server(root: Path, state: Path, *, mofang: bool) -> Iterator[Server]:
    """A ``jupyter server`` on ``root`` with (or without) the Mofang extension; stopped after."""
    state.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), secrets.token_hex(8)
    config = state / "jupyter_server_config.json"
    extensions = {"mofang_lab": mofang, "benchmarks.status_hooks": True}
    config.write_text(json.dumps({"ServerApp": {"jpserver_extensions": extensions}}))
    command = [
        sys.executable,
        "-m",
        "jupyter_server",
        f"--config={config}",
        f"--ServerApp.root_dir={root}",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        "--ServerApp.open_browser=False",
        f"--IdentityProvider.token={token}",
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    log = state / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    server = Server(f"http://127.0.0.1:{port}/", token, process, log)
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"server exited:\n{log.read_text()[-3000:]}")
            try:
                if server.get("mofang-bench/requests").status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class EventReader:
    """Reads ``GET /mofang/api/events`` in a thread: each event with the time it arrived."""

    def __init__(self, server: Server, since: int) -> None:
        host, port = server.url.split("//")[1].rstrip("/").split(":")
        self._connection = http.client.HTTPConnection(host, int(port), timeout=60)
        self._connection.request(
            "GET",
            f"/mofang/api/events?since={since}",
            headers={"Authorization": f"token {server.token}"},
        )
        self._response = self._connection.getresponse()
        if self._response.status != 200:
            raise RuntimeError(f"events stream answered {self._response.status}")
        self.events: list[tuple[float, dict[str, Any]]] = []
        self.comments: list[float] = []
        self.arrived = threading.Condition()
        self._open_at_close = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while True:
                line = self._response.readline()
                if not line:
                    return
                now = time.time()
                text = line.decode().rstrip("\n")
                with self.arrived:
                    if text.startswith("data: "):
                        self.events.append((now, json.loads(text[6:])))
                        self.arrived.notify_all()
                    elif text.startswith(": keepalive"):
                        self.comments.append(now)
        except (OSError, ValueError, AttributeError, http.client.HTTPException):
            return  # closed by close()

    def wait_for(self, seq: int, timeout: float) -> float | None:
        """When the event ``seq`` arrived (``time.time()``), or None after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while True:
                for arrived, event in reversed(self.events):
                    if event["seq"] == seq:
                        return arrived
                    if event["seq"] < seq:
                        break
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.arrived.wait(left)

    @property
    def open_at_close(self) -> bool:
        return self._open_at_close

    def close(self) -> None:
        self._open_at_close = self._thread.is_alive()
        if self._connection.sock is not None:
            with contextlib.suppress(OSError):
                self._connection.sock.shutdown(socket.SHUT_RDWR)  # wakes the reading thread
        self._connection.close()
        self._thread.join(timeout=5)


class Poller:
    """The baseline of push: a client asking for one job every ``interval`` seconds."""

    def __init__(self, server: Server, interval: float) -> None:
        self._url = server.url
        self._session = server.new_session()
        self.interval = interval
        self.job_id = ""
        self.state = ""
        self.seen: float | None = None
        self.requests = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def watch(self, job_id: str, state: str) -> None:
        self.job_id, self.state, self.seen = job_id, state, None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            job_id, state = self.job_id, self.state
            if not job_id or self.seen is not None:
                continue
            response = self._session.get(f"{self._url}mofang/api/jobs/{job_id}", timeout=30)
            self.requests += 1
            if response.json()["state"] == state and self.job_id == job_id:
                self.seen = time.time()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def timed_get(server: Server, path: str) -> float:
    start = time.perf_counter()
    response = server.get(path)
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        raise RuntimeError(f"GET {path}: {response.status_code} {response.text[:300]}")
    return elapsed * 1000


def percentiles(values: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return summary(values) | {"p50": cuts[49], "p95": cuts[94]}


def measure_listing(mofang: Server, plain: Server, rounds: int, jobs: int) -> dict[str, Any]:
    # One untimed round: the first request of each kind pays for imports and caches.
    listed = mofang.get("mofang/api/jobs").json()["jobs"]
    if len(listed) != jobs:
        raise RuntimeError(f"the server lists {len(listed)} jobs, not {jobs}")
    paths = {
        "jobs": (mofang, "mofang/api/jobs"),
        "contents": (mofang, "api/contents/files"),
        "status": (mofang, "api/status"),
        "contents_plain_server": (plain, "api/contents/files"),
    }
    for server, path in paths.values():
        timed_get(server, path)
    times: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(rounds):
        for name, (server, path) in paths.items():
            times[name].append(timed_get(server, path))
    return {name: percentiles(values) for name, values in times.items()}


def measure_rebuilt_listing(server: Server, job_id: str, rounds: int) -> dict[str, Any]:
    """``GET /jobs`` right after a job changed: the list is built and serialised again.

    The server keeps the serialised list until the store changes, so the
    listing above measures the kept list; this is the cost of the first
    request after each change (a running job's replica, a new submission).
    """
    times = []
    for number in range(rounds):
        state = JobState.RUNNING if number % 2 == 0 else JobState.SUCCEEDED
        server.post(f"mofang-bench/change?job={job_id}&state={state}").raise_for_status()
        times.append(timed_get(server, "mofang/api/jobs"))
    return percentiles(times)


def measure_replay(server: Server, repeats: int, events: int) -> dict[str, Any]:
    """A stream opened at ``since=0``: how many stored events it delivers, and how fast.

    Milliseconds from opening the stream to the last event it delivered before
    going quiet for ``QUIET`` seconds (or to the last stored event).
    """
    times = []
    delivered = []
    for _ in range(repeats):
        start = time.time()
        reader = EventReader(server, since=0)
        if reader.wait_for(events, timeout=QUIET) is None:
            while True:  # not all of them: wait until nothing more comes
                count = len(reader.events)
                time.sleep(QUIET)
                if len(reader.events) == count:
                    break
        reader.close()
        delivered.append(len(reader.events))
        times.append((reader.events[-1][0] - start) * 1000 if reader.events else 0.0)
    return {"ms": summary(times), "delivered": min(delivered), "stored": events}


def measure_push(server: Server, job_ids: list[str], changes: int, last_seq: int) -> dict[str, Any]:
    reader = EventReader(server, since=last_seq)
    poller = Poller(server, interval=1.0)
    rng = random.Random(3)  # noqa: S311
    push: list[float] = []
    poll: list[float] = []
    try:
        for i in range(changes):
            job_id = job_ids[i // 2]
            state = JobState.RUNNING if i % 2 == 0 else JobState.SUCCEEDED
            poller.watch(job_id, state)
            answer = server.post(f"mofang-bench/change?job={job_id}&state={state}")
            answer.raise_for_status()
            event = answer.json()
            changed = datetime.fromisoformat(event["time"]).timestamp()
            arrived = reader.wait_for(event["seq"], timeout=10)
            if arrived is None:
                raise RuntimeError(f"event {event['seq']} never reached the events stream")
            push.append((arrived - changed) * 1000)
            deadline = time.monotonic() + 10
            while poller.seen is None and time.monotonic() < deadline:
                time.sleep(0.01)
            if poller.seen is None:
                raise RuntimeError("the polling client never saw the change")
            poll.append((poller.seen - changed) * 1000)
            time.sleep(rng.uniform(0, 1))  # changes fall anywhere in the poll period
    finally:
        poller.close()
        reader.close()
    return {"push_ms": percentiles(push), "poll_1s_ms": percentiles(poll)}


def measure_idle(server: Server, seconds: float, last_seq: int) -> dict[str, float]:
    """One events stream open, nothing happening: what reaches the server, what comes back."""
    reader = EventReader(server, since=last_seq)
    time.sleep(0.5)  # the stream's own request is in, before counting starts
    before = server.get("mofang-bench/requests").json()
    start = time.time()
    time.sleep(seconds)
    after = server.get("mofang-bench/requests").json()
    reader.close()
    comments = [t for t in reader.comments if t >= start]
    mofang = after.get("/mofang/api", 0) - before.get("/mofang/api", 0)
    return {
        "seconds": seconds,
        "requests_per_minute": mofang * 60 / seconds,
        "keepalives_per_minute": len(comments) * 60 / seconds,
        "stream_open": reader.open_at_close,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=200, help="requests of each kind")
    parser.add_argument("--changes", type=int, default=40, help="state changes pushed")
    parser.add_argument("--idle", type=float, default=60, help="seconds an idle client waits")
    parser.add_argument("--quick", action="store_true", help="200 jobs, few requests, 2 s idle")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.rounds, args.changes, args.idle = 200, 10, 4, 2.0
    replays = 1 if args.quick else 5

    with tempfile.TemporaryDirectory(prefix="mofang-bench-status-") as tmp:
        base = Path(tmp)
        root = base / "home"
        files = root / "files"
        files.mkdir(parents=True)
        for i in range(args.jobs):
            (files / f"run-{i:04d}.txt").write_text("x")
        job_ids = write_jobs(root, args.jobs)
        events = 3 * args.jobs  # Created, Running, and the final state of each
        with (
            jupyter_server(root, base / "mofang", mofang=True) as mofang,
            jupyter_server(root, base / "plain", mofang=False) as plain,
        ):
            listing = measure_listing(mofang, plain, args.rounds, args.jobs)
            replay = measure_replay(mofang, replays, events)
            push = measure_push(mofang, job_ids, args.changes, events)
            idle = measure_idle(mofang, args.idle, events + args.changes)
            rebuilt = measure_rebuilt_listing(mofang, job_ids[-1], args.rounds)
            rss = {
                "mofang": peak_rss_mib(mofang.process.pid),
                "plain": peak_rss_mib(plain.process.pid),
            }

    ratio = listing["jobs"]["p50"] / listing["contents"]["p50"]
    print(f"status at scale: {args.jobs} jobs, {args.rounds} rounds of each request, alternating")
    labels = {
        "jobs": "GET /mofang/api/jobs (all jobs)",
        "contents": f"GET /api/contents, {args.jobs} files",
        "status": "GET /api/status (floor)",
        "contents_plain_server": "same, server without Mofang",
    }
    for name, label in labels.items():
        r = listing[name]
        print(
            f"  {label:36s} p50 {r['p50']:7.1f} ms  p95 {r['p95']:7.1f} ms  "
            f"(min {r['min']:.1f}, max {r['max']:.1f})"
        )
    print(
        f"  {'GET /mofang/api/jobs after a change':36s} p50 {rebuilt['p50']:7.1f} ms  "
        f"p95 {rebuilt['p95']:7.1f} ms  (min {rebuilt['min']:.1f}, max {rebuilt['max']:.1f})"
    )
    p95 = listing["jobs"]["p95"]
    print(f"  ratio job list / folder listing (p50): {ratio:.2f}")
    print(f"  job list p95 target <= 50 ms: {'met' if p95 <= 50 else 'NOT met'}")
    r = replay["ms"]
    print(
        f"  events stream from the start: {replay['delivered']} of {events} stored events "
        f"delivered, the last after {r['median']:.0f} ms (min {r['min']:.0f}, max {r['max']:.0f})"
    )
    p, q = push["push_ms"], push["poll_1s_ms"]
    print(
        f"  state change -> events stream client: p50 {p['p50']:.1f} ms, p95 {p['p95']:.1f} ms, "
        f"max {p['max']:.1f} ms ({args.changes} changes)"
    )
    print(
        f"  state change -> client polling every 1 s: p50 {q['p50']:.0f} ms, "
        f"p95 {q['p95']:.0f} ms, max {q['max']:.0f} ms"
    )
    print(f"  push target <= 1 s: {'met' if p['max'] <= 1000 else 'NOT met'}")
    print(
        f"  idle client, one events stream, {idle['seconds']:g} s: "
        f"{idle['requests_per_minute']:g} requests/min, "
        f"{idle['keepalives_per_minute']:g} keep-alives/min received, "
        f"stream {'still open' if idle['stream_open'] else 'CLOSED'} at the end"
    )
    print(
        f"  peak RSS: server with Mofang {rss['mofang']:.0f} MiB, "
        f"without {rss['plain']:.0f} MiB ({rss['mofang'] - rss['plain']:+.0f} MiB)"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "status_scale": listing,
                    "jobs_after_a_change": rebuilt,
                    "jobs": args.jobs,
                    "ratio": ratio,
                    "replay_ms": replay,
                    "events": events,
                    **push,
                    "idle": idle,
                    "peak_rss_mib": rss,
                },
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
