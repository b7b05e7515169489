"""Authentication beyond "anonymous is refused" (see test_every_route_needs_auth.py):
state-changing routes refuse a browser cookie without its XSRF token, and tokens work.

A browser logged into the server carries a login cookie that any page may make
it send; jupyter-server's rule is that a POST, PUT, PATCH or DELETE
authenticated by that cookie alone must also carry the XSRF token (header
``X-XSRFToken`` matching the ``_xsrf`` cookie), while a request authenticated
by a token needs none. Every state-changing Mofang route is found from the
router and tried all three ways.
"""

from __future__ import annotations

import re
import urllib.parse
from http.cookies import SimpleCookie
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError, HTTPResponse

from tests.security.conftest import tally
from tests.security.test_every_route_needs_auth import concrete_path, mofang_routes

CHANGING = ("POST", "PUT", "PATCH", "DELETE")


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    # The server's own identity provider: a token, or a password login that sets a cookie.
    return {"ServerApp": {"jpserver_extensions": {"mofang_lab": True}}}


def cookies_of(response: HTTPResponse) -> dict[str, str]:
    jar: SimpleCookie = SimpleCookie()
    for header in response.headers.get_list("Set-Cookie"):
        jar.load(header)
    return {name: morsel.value for name, morsel in jar.items()}


async def log_in(jp_fetch: Any, token: str) -> dict[str, str]:
    """Log in as a browser does (the login form, with the token as password); its cookies."""
    page = await jp_fetch("login", headers={"Authorization": ""})
    cookies = cookies_of(page)
    xsrf = cookies["_xsrf"]
    body = urllib.parse.urlencode({"password": token, "_xsrf": xsrf})
    with pytest.raises(HTTPClientError) as redirect:
        await jp_fetch(
            "login",
            method="POST",
            body=body,
            headers={"Authorization": "", "Cookie": f"_xsrf={xsrf}"},
            follow_redirects=False,
        )
    assert redirect.value.code == 302, redirect.value
    assert redirect.value.response is not None
    cookies.update(cookies_of(redirect.value.response))
    assert any(name.startswith("username-") for name in cookies), cookies
    return cookies


def cookie_header(cookies: dict[str, str]) -> str:
    return "; ".join(f"{name}={value}" for name, value in cookies.items())


async def status(jp_fetch: Any, path: str, method: str, headers: dict[str, str]) -> int:
    body = b"{}" if method in ("POST", "PUT", "PATCH") else None
    try:
        response = await jp_fetch(
            path, method=method, body=body, headers=headers, request_timeout=5
        )
    except HTTPClientError as error:
        return error.code
    return int(response.code)


def changing_routes(app: Any, base_url: str) -> list[tuple[str, str]]:
    found = []
    for pattern, handler in mofang_routes(app):
        for method in CHANGING:
            if any(
                method.lower() in vars(cls)
                for cls in handler.__mro__
                if cls.__module__.startswith("mofang_lab")
            ):
                found.append((concrete_path(pattern, base_url), method))
    return found


async def test_a_cookie_without_the_xsrf_token_cannot_change_anything(
    jp_serverapp: Any, jp_fetch: Any, jp_base_url: str
) -> None:
    token = jp_serverapp.identity_provider.token
    cookies = await log_in(jp_fetch, token)
    routes = changing_routes(jp_serverapp.web_app, jp_base_url)
    assert {path for path, _ in routes} >= {"mofang/api/jobs", "mofang/api/sweeps"}, routes
    cookie_only = {"Authorization": "", "Cookie": cookie_header(cookies)}
    with_xsrf = {**cookie_only, "X-XSRFToken": cookies["_xsrf"]}
    forged = {**cookie_only, "X-XSRFToken": re.sub(r"\w", "0", cookies["_xsrf"])}
    by_token = {"Authorization": f"token {token}"}
    for path, method in routes:
        assert await status(jp_fetch, path, method, cookie_only) == 403, (method, path)
        assert await status(jp_fetch, path, method, forged) == 403, (method, path)
        # The same cookie with its token, or a token alone, is let through to the
        # handler, which answers for the (empty) request itself: 400, 404, never 401/403.
        assert await status(jp_fetch, path, method, with_xsrf) not in (401, 403), (method, path)
        assert await status(jp_fetch, path, method, by_token) not in (401, 403), (method, path)
        tally("authentication", 4)
    # Reading needs no XSRF token: the cookie alone lists the jobs.
    assert await status(jp_fetch, "mofang/api/jobs", "GET", cookie_only) == 200
    tally("authentication")


async def test_a_wrong_token_is_anonymous(jp_fetch: Any) -> None:
    for header in ("token not-the-token", "Bearer not-the-token", "token ", "Basic YWxpY2U6eA=="):
        for path, method in (("mofang/api/jobs", "GET"), ("mofang/api/jobs", "POST")):
            assert await status(jp_fetch, path, method, {"Authorization": header}) in (401, 403)
            tally("authentication")
