"""Test users of one jupyter-server, told apart by token.

On a hub every user has their own server, so a single-user server only ever
sees its owner. The security tests put several users on *one* server and one
job store, which is the harder case: every handler and store query must filter
by the authenticated user. Names that differ only by case or punctuation are
among them, since the owner is compared as it is, never folded.

Used in-process (``jp_server_config``) and, by its import path, by the
subprocess servers of :mod:`tests.security.servers`.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.identity import IdentityProvider, User

TOKENS = {
    "alice-token": "alice",
    "bob-token": "bob",
    "Alice-token": "Alice",
    "a.lice-token": "a.lice",
}


def auth(user: str) -> dict[str, str]:
    """The headers that authenticate ``user`` by token."""
    token = next(t for t, name in TOKENS.items() if name == user)
    return {"Authorization": f"token {token}"}


class TokenUsers(IdentityProvider):  # type: ignore[misc]
    """``Authorization: token alice-token`` is alice, ...; no token, no user."""

    def get_user(self, handler: Any) -> User | None:
        header = handler.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "token" and token in TOKENS:
            handler._token_authenticated = True  # a token, not a cookie: no XSRF check
            return User(username=TOKENS[token])
        return None
