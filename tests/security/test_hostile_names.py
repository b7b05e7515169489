"""User and group names that differ only by case or punctuation get different directories
and object names: :func:`mofang_spawner.planning.safe_name` is collision-free and its
result is always a DNS-1123 label and a single path component.

tests/unit/test_names.py checks arbitrary pairs of names; here hypothesis aims
at the pairs that matter: one name and its variants (case flipped, punctuation
added, removed or swapped, a trailing newline, a look-alike letter).
"""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from mofang_spawner.planning import Choices, plan_server, safe_name
from tests.policies import demo_policy
from tests.security.conftest import tally

DNS_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
PUNCTUATION = ".-_ '@+~:/\\\n\t"
LOOK_ALIKES = {
    "a": "\u0430",
    "e": "\u0435",
    "o": "\u043e",
    "l": "\u04cf",
    "i": "\u0456",
}  # Cyrillic


def valid(escaped: str) -> bool:
    return DNS_LABEL.fullmatch(escaped) is not None and "/" not in escaped


@st.composite
def name_and_variants(draw: st.DrawFn) -> list[str]:
    base = draw(st.from_regex(r"[a-z][a-z0-9]{0,15}", fullmatch=True))
    variants = {base}
    for _ in range(draw(st.integers(1, 6))):
        chars = list(base)
        at = draw(st.integers(0, len(chars) - 1))
        change = draw(st.sampled_from(["case", "insert", "append", "prepend", "look-alike"]))
        mark = draw(st.sampled_from(PUNCTUATION))
        if change == "case":
            chars[at] = chars[at].upper()
        elif change == "insert":
            chars.insert(at, mark)
        elif change == "append":
            chars.append(mark)
        elif change == "prepend":
            chars.insert(0, mark)
        else:
            chars[at] = LOOK_ALIKES.get(chars[at], chars[at].upper())
        variants.add("".join(chars))
    return sorted(variants)


@settings(max_examples=300, deadline=None)
@given(names=name_and_variants())
def test_names_differing_by_case_or_punctuation_never_collide(names: list[str]) -> None:
    escaped = [safe_name(name) for name in names]
    tally("hostile input", len(names))
    assert len(set(escaped)) == len(names), dict(zip(names, escaped, strict=True))
    assert all(valid(e) for e in escaped), escaped


def test_a_trailing_newline_is_escaped_not_kept() -> None:
    # "$" in a regex also matches before a final newline; the check must not.
    for name in ("alice\n", "vision\n", "a\n"):
        assert safe_name(name) != name and valid(safe_name(name))
        assert safe_name(name) != safe_name(name.strip())
    tally("hostile input", 3)


def test_look_alike_users_and_groups_get_their_own_directories() -> None:
    groups = ["vision", "Vision", "vision.", "v\u0456sion"]  # the last with a Cyrillic i
    policy = demo_policy(
        groups=[{"name": g, "limits": {"cpu": 1, "memory_gib": 1}} for g in groups]
    )
    sources: dict[str, str] = {}
    for user, group in zip(["alice", "Alice", "alice.", "\u0430lice"], groups, strict=True):
        plan = plan_server(user, [group], Choices(), policy)
        for mount in plan.mounts:
            if mount.level != "global":
                assert mount.source not in sources, (mount.source, sources)
                sources[mount.source] = f"{user}/{group}"
                assert ".." not in mount.source.split("/")
    assert len(sources) == 8
    tally("hostile input", 8)
