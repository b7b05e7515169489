"""safe_name: valid for directories and Kubernetes, never colliding, never escaping."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from mofang_spawner.planning import safe_name

DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def test_plain_names_are_kept() -> None:
    assert safe_name("alice") == "alice"
    assert safe_name("team42") == "team42"


def test_names_differing_only_by_case_or_punctuation_do_not_collide() -> None:
    variants = [
        "alice",
        "Alice",
        "ALICE",
        "a.lice",
        "a-lice",
        "a_lice",
        "alice ",
        "Ålice",
        "alice-",
    ]
    escaped = [safe_name(v) for v in variants]
    assert len(set(escaped)) == len(variants)


def test_escaped_names_stay_readable() -> None:
    assert safe_name("Alice").startswith("alice-")
    assert safe_name("jane.doe").startswith("jane-doe-")
    assert safe_name("Ålice").startswith("alice-")


def test_path_tricks_cannot_escape() -> None:
    for name in ["..", ".", "../etc", "/", "a/b", "\x00", ""]:
        result = safe_name(name)
        assert "/" not in result and result not in (".", "..", "")
        assert DNS_LABEL.match(result), result


@given(st.text(max_size=200))
def test_every_name_is_a_valid_dns_label(name: str) -> None:
    assert DNS_LABEL.match(safe_name(name))


@given(st.text(max_size=60), st.text(max_size=60))
def test_distinct_names_stay_distinct(a: str, b: str) -> None:
    if a != b:
        assert safe_name(a) != safe_name(b)
