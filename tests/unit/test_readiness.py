"""wait_until_answering: ready on any non-5xx answer, fails fast when the process died."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from mofang_spawner.local.readiness import wait_until_answering
from tests.e2e.hub import free_port


class _Status(BaseHTTPRequestHandler):
    status = 404

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    httpd = HTTPServer(("127.0.0.1", 0), _Status)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()


def url(httpd: HTTPServer) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}/user/a/api"


def test_any_non_5xx_answer_means_ready(server: HTTPServer) -> None:
    assert asyncio.run(wait_until_answering(url(server), timeout=5, exit_code=lambda: None))


def test_a_5xx_answer_is_not_ready(server: HTTPServer) -> None:
    _Status.status = 503
    try:
        ready = asyncio.run(wait_until_answering(url(server), timeout=0.3, exit_code=lambda: None))
    finally:
        _Status.status = 404
    assert ready is False


def test_nothing_listening_times_out() -> None:
    target = f"http://127.0.0.1:{free_port()}/"
    assert asyncio.run(wait_until_answering(target, timeout=0.3, exit_code=lambda: None)) is False


def test_a_dead_process_fails_at_once() -> None:
    target = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(RuntimeError, match="exited with code 3"):
        asyncio.run(wait_until_answering(target, timeout=30, exit_code=lambda: 3))
