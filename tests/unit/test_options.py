"""choices_from_options: the server-side check of untrusted user_options."""

from __future__ import annotations

from typing import Any

import pytest

from mofang_spawner.errors import InvalidRequestError
from mofang_spawner.planning import Choices, choices_from_options


def test_form_strings_and_json_numbers_both_parse() -> None:
    assert choices_from_options({"cpu": "2.5", "gpus": "1", "template": "pytorch"}) == Choices(
        cpu=2.5, gpus=1, template="pytorch"
    )
    assert choices_from_options({"cpu": 2, "memory_gib": 4.0}) == Choices(cpu=2, memory_gib=4)


def test_empty_values_mean_default() -> None:
    assert choices_from_options({"cpu": "", "group": None}) == Choices()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cpu": -1}, "CPU must be more than 0"),
        ({"cpu": 0}, "CPU must be more than 0"),
        ({"cpu": "nan"}, "finite"),
        ({"cpu": "inf"}, "finite"),
        ({"memory_gib": 1e9}, "at most 16384"),
        ({"cpu": "two"}, "must be a number, not 'two'"),
        ({"cpu": True}, "must be a number, not bool"),
        ({"cpu": [2]}, "must be a number, not list"),
        ({"gpus": 1.5}, "whole number"),
        ({"gpus": -1}, "GPUs must be from 0 to 64"),
        ({"template": 3}, "must be a string"),
        ({"group": "a\nb"}, "not a valid name"),
        ({"group": "x" * 1000}, "not a valid name"),
        ({"hostPath": "/etc"}, "Unknown server option"),
        ({"image": "evil:latest"}, "Unknown server option"),
    ],
)
def test_malformed_options_are_refused_with_a_clear_message(
    options: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidRequestError, match=message):
        choices_from_options(options)


def test_not_an_object_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="JSON object"):
        choices_from_options(["cpu", 2])  # type: ignore[arg-type]
