"""Hostile request bodies: malformed JSON, the wrong shapes, bodies nested too deep or too
large. Each gets a 400 (or 413) with a message, never a 500, and nothing is created.

The limits are :data:`mofang_lab.handlers.base.MAX_BODY_BYTES` (1 MiB) and
:data:`~mofang_lab.handlers.base.MAX_JSON_DEPTH` (32), applied by the base
handler to every Mofang route before any handler reads the body. The server's
own limit, ``ServerApp.max_body_size``, is 512 MiB (sized for notebook uploads).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tornado.httpclient import HTTPClientError

from mofang_lab.handlers.base import MAX_BODY_BYTES, MAX_JSON_DEPTH, check_body
from mofang_lab.jobs.request import SubmitRequest, parse_model
from mofang_lab.sweeps.request import SweepRequest
from mofang_spawner.errors import InvalidRequestError
from tests.jobs.conftest import Fetch
from tests.jobs.notebooks import write_notebook
from tests.security.conftest import answer_of, footprint, tally
from tests.security.users import auth

ALICE = auth("alice")

MALFORMED: list[bytes] = [
    b"not json",
    b"{",
    b'{"notebook": "n.ipynb"',
    b"[]",
    b"null",
    b"42",
    b'"n.ipynb"',
    b"\xff\xfe\x00{",
    b'{"notebook": "n.ipynb", "notebook": ["n.ipynb"]}',
    b'{"notebook": 1}',
    b'{"notebook": null}',
    b'{"notebook": {"$ne": ""}}',
    b'{"notebook": "n.ipynb", "roles": "Worker"}',
    b'{"notebook": "n.ipynb", "roles": {"Worker": {"replicas": 1e400}}}',
    b'{"notebook": "n.ipynb", "roles": {"Worker": {"replicas": -1}}}',
    b'{"notebook": "n.ipynb", "timeout_seconds": NaN}',
    b'{"notebook": "n.ipynb", "timeout_seconds": -Infinity}',
    b'{"notebook": "n.ipynb", "parameters": []}',
    b'{"notebook": "n.ipynb", "env": {"A": 1}}',
    b'{"notebook": "n.ipynb", "dry_run": "yes please"}',
    b'{"notebook": "n.ipynb", "backoff_limit": 100000}',
    b'{"notebook": "n.ipynb", "parameters": {"x": ' + b"[" * 40 + b"]" * 40 + b"}}",
    b"[" * 100_000 + b"]" * 100_000,
    b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
]


async def post(jp_fetch: Fetch, *parts: str, body: bytes) -> tuple[int, dict[str, Any]]:
    try:
        response = await jp_fetch(
            "mofang", "api", *parts, method="POST", body=body, headers=ALICE, request_timeout=60
        )
    except HTTPClientError as error:
        return answer_of(error)
    return int(response.code), json.loads(response.body)


async def test_malformed_bodies_are_refused_with_a_message(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    write_notebook(jp_root_dir / "n.ipynb", ["print(1)"])
    before = footprint(jp_root_dir)
    for body in MALFORMED:
        for route in (("jobs",), ("sweeps",), ("sweeps", "never-swept-r4t5y6", "apply-best")):
            code, answer = await post(jp_fetch, *route, body=body)
            # apply-best reads only "notebook": a well-formed object then meets the unknown sweep.
            allowed = (400, 404) if route[-1] == "apply-best" else (400,)
            assert code in allowed, (route, body[:80], code, answer)
            assert answer["message"] and "Internal error" not in answer["message"]
            tally("hostile input")
    assert footprint(jp_root_dir) == before


async def test_bodies_over_the_limit_are_refused_before_anything_reads_them(
    jp_fetch: Fetch, jp_root_dir: Path
) -> None:
    write_notebook(jp_root_dir / "n.ipynb", ["print(1)"])
    before = footprint(jp_root_dir)
    padding = "x" * MAX_BODY_BYTES
    for route in (("jobs",), ("sweeps",), ("jobs", "never-made-q1w2e3", "cancel")):
        body = json.dumps({"notebook": "n.ipynb", "parameters": {"blob": padding}}).encode()
        code, answer = await post(jp_fetch, *route, body=body)
        assert code == 413, (route, code)
        assert f"Mofang requests are at most {MAX_BODY_BYTES} bytes" in answer["message"]
        tally("hostile input")
    assert footprint(jp_root_dir) == before
    # Just under the limit is an ordinary request.
    fits = json.dumps({"notebook": "n.ipynb", "dry_run": True, "parameters": {"blob": "x" * 1000}})
    code, answer = await post(jp_fetch, "jobs", body=fits.encode())
    assert code == 200 and "blob = 'xxx" in answer["program"], answer


def test_the_depth_limit_lets_ordinary_requests_through() -> None:
    ordinary = {
        "notebook": "n.ipynb",
        "parameters": {"layers": [[64, 64], [128]]},
        "roles": {"Worker": {"replicas": 2, "resources": {"gpus": 1}}},
    }
    check_body(json.dumps(ordinary).encode())
    deepest_allowed = "[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH
    check_body(deepest_allowed.encode())
    with pytest.raises(InvalidRequestError, match="more than 32 levels"):
        check_body(("[" + deepest_allowed + "]").encode())


@settings(max_examples=500, deadline=None)
@given(body=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_bytes_are_refused_or_checked_never_an_unexpected_error(body: bytes) -> None:
    tally("hostile input")
    try:
        check_body(body)
    except InvalidRequestError as refused:
        problem: InvalidRequestError | None = refused
    else:
        problem = None
    assert problem is None or (problem.status_code in (400, 413) and problem.message)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3)
    ),
    max_leaves=10,
)
FIELDS = st.sampled_from([*SubmitRequest.model_fields, "image", "queue", "volumes", "__class__"])


@settings(max_examples=500, deadline=None)
@given(data=st.dictionaries(FIELDS, JSON, max_size=6) | JSON)
def test_any_json_is_a_request_or_a_clear_400(data: Any) -> None:
    tally("hostile input")
    for model in (SubmitRequest, SweepRequest):
        try:
            parse_model(model, data, what="request")
        except InvalidRequestError as refused:
            message = refused.message
        else:
            message = "Invalid request: (accepted)"
        assert message.startswith("Invalid request: ")
