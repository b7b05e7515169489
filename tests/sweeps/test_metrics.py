"""The metric parser accepts and rejects exactly what Katib's StdOut collector does."""

from __future__ import annotations

import io
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mofang_lab.sweeps import KATIB_METRIC_FILTER, format_report, parse_metrics, report


def values(line: str, *metrics: str) -> list[tuple[str, float]]:
    return [(r.name, r.value) for r in parse_metrics([line], metrics or ("accuracy", "loss"))]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("accuracy=0.91", [("accuracy", 0.91)]),
        ("accuracy = 0.91", [("accuracy", 0.91)]),
        ("loss=.98", [("loss", 0.98)]),  # Katib's own examples
        ("loss=-7.53e-05", [("loss", -7.53e-05)]),
        ("loss=-7.53e+05", [("loss", -7.53e05)]),
        ("loss=1E0", [("loss", 1.0)]),
        ("loss=1.23E10", [("loss", 1.23e10)]),
        ("loss=+3", [("loss", 3.0)]),
        ("epoch 3: accuracy=0.5, loss=0.25", [("accuracy", 0.5), ("loss", 0.25)]),
        ("accuracy=0.5 accuracy=0.6", [("accuracy", 0.5), ("accuracy", 0.6)]),
        ("loss=1.5.5", [("loss", 1.5)]),  # the match stops where the number does
        ("loss=7abc", [("loss", 7.0)]),
    ],
)
def test_accepts_what_katib_accepts(line: str, expected: list[tuple[str, float]]) -> None:
    assert values(line) == expected


@pytest.mark.parametrize(
    "line",
    [
        "accuracy: 0.91",  # not name=value
        "val-accuracy=0.91",  # another metric (names with dashes are names)
        "my_accuracy=0.9",  # \w+ takes the whole word
        "accuracy=",  # empty value
        "accuracy=+",
        "accuracy=abc",
        "accuracy=inf",
        "accuracy=nan",
        "accuracy=١٢",  # non-ASCII digits: Go's \d is ASCII
        "nothing here",
    ],
)
def test_rejects_what_katib_rejects(line: str) -> None:
    assert values(line) == []


def test_names_with_dashes_and_pipes_are_whole_names() -> None:
    assert values("val-loss=0.3 loss=0.4", "val-loss", "loss") == [("val-loss", 0.3), ("loss", 0.4)]
    assert values("a|b=1", "a|b") == [("a|b", 1.0)]


def test_a_leading_rfc3339_time_is_the_timestamp() -> None:
    (r,) = parse_metrics(["2026-11-27T08:00:01.5Z accuracy=0.7"], ["accuracy"])
    assert r.timestamp == "2026-11-27T08:00:01.5Z"
    (r,) = parse_metrics(["2026-11-27T08:00:01+02:00 accuracy=0.7"], ["accuracy"])
    assert r.timestamp == "2026-11-27T08:00:01+02:00"
    (r,) = parse_metrics(["2026-11-27 accuracy=0.7"], ["accuracy"])
    assert r.timestamp is None


def test_line_numbers_follow_the_stream() -> None:
    reports = parse_metrics(["start", "loss=3", "x", "loss=2"], ["loss"])
    assert [(r.line, r.value) for r in reports] == [(2, 3.0), (4, 2.0)]


def test_the_filter_is_katibs_default_filter() -> None:
    assert KATIB_METRIC_FILTER == r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"


def test_report_prints_one_parseable_line() -> None:
    out = io.StringIO()
    report(file=out, accuracy=0.91, loss=2e-7)
    assert out.getvalue() == "accuracy=0.91 loss=2e-07\n"
    assert values(out.getvalue()) == [("accuracy", 0.91), ("loss", 2e-07)]


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        ({}, "at least one"),
        ({"bad name": 1.0}, "cannot be read back"),
        ({"loss": float("nan")}, "finite"),
    ],
)
def test_report_refuses_what_cannot_be_read_back(metrics: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        format_report(**metrics)


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_every_reported_float_reads_back_exactly(value: float) -> None:
    assert values(format_report(loss=value), "loss") == [("loss", value)]


@given(st.text(alphabet=st.characters(codec="ascii"), max_size=40))
def test_the_parser_agrees_with_the_filter_on_names(line: str) -> None:
    names = {m.group(1) for m in re.finditer(KATIB_METRIC_FILTER, line, re.ASCII)}
    for r in parse_metrics([line], sorted(names) or ["x"]):
        assert r.name in names
