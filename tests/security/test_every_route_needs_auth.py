"""Every HTTP route the mofang_lab extension registers refuses anonymous requests.

The routes are enumerated from the running server's router, so a route added
later is covered without touching this test.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError
from tornado.routing import PathMatches, Rule

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"mofang_lab": True}}}


def mofang_routes(app: Any) -> list[tuple[str, type]]:
    """(regex pattern, handler class) of every rule whose handler lives in mofang_lab."""
    found: list[tuple[str, type]] = []

    def walk(rules: list[Rule]) -> None:
        for rule in rules:
            target = rule.target
            if hasattr(target, "rules"):
                walk(target.rules)
                continue
            if isinstance(target, type) and target.__module__.startswith("mofang_lab"):
                assert isinstance(rule.matcher, PathMatches)
                if (rule.matcher.regex.pattern, target) not in found:
                    found.append((rule.matcher.regex.pattern, target))

    walk(app.default_router.rules)
    return found


def concrete_path(pattern: str, base_url: str) -> str:
    """A request path matching ``pattern``: each capture group gets a harmless value."""
    path = re.sub(r"\(\?P<\w+>[^)]*\)|\([^)]*\)", "x1", pattern.rstrip("$"))
    path = path.replace("\\", "")
    assert path.startswith(base_url), (path, base_url)
    return path[len(base_url) :]


def test_the_extension_registers_routes(jp_serverapp: Any) -> None:
    routes = mofang_routes(jp_serverapp.web_app)
    assert any("mofang/api/environment" in pattern for pattern, _ in routes)


async def test_no_route_answers_an_anonymous_request(
    jp_serverapp: Any, jp_fetch: Any, jp_base_url: str
) -> None:
    routes = mofang_routes(jp_serverapp.web_app)
    checked = 0
    for pattern, handler in routes:
        path = concrete_path(pattern, jp_base_url)
        for method in METHODS:
            if method.lower() not in vars(handler) and not any(
                method.lower() in vars(base)
                for base in handler.__mro__[1:-1]
                if base.__module__.startswith("mofang_lab")
            ):
                continue
            body = b"{}" if method in ("POST", "PUT", "PATCH") else None
            with pytest.raises(HTTPClientError) as info:
                await jp_fetch(path, method=method, body=body, headers={"Authorization": ""})
            assert info.value.code in (401, 403), (method, path, info.value.code)
            checked += 1
    assert checked >= 1
