"""The spawn form: offers only what the user may have; parses POST data strictly."""

from __future__ import annotations

import json
import re

import pytest

from mofang_spawner.errors import InvalidRequestError
from mofang_spawner.form import form_options, render_form
from tests.policies import demo_policy


def form_data(html: str) -> dict[str, object]:
    match = re.search(
        r'<script type="application/json" id="mofang-form-data">(.*?)</script>', html, re.S
    )
    assert match
    return json.loads(match.group(1).replace("<\\/", "</"))


def test_form_offers_only_the_users_groups_with_their_caps() -> None:
    html = render_form(["vision"], demo_policy())
    assert '<option value="vision">Vision team</option>' in html
    assert 'value="nlp"' not in html
    data = form_data(html)
    assert list(data) == ["vision"]
    pytorch = data["vision"]["templates"]["pytorch"]  # type: ignore[index]
    assert pytorch["max"] == {"cpu": 6, "memory_gib": 24, "gpus": 2, "disk_gib": 100}
    assert data["vision"]["gpu_types"] == [{"name": "local-gpu", "title": "Local GPU (whole)"}]  # type: ignore[index]


def test_form_lists_templates_with_descriptions_and_hides_forbidden_ones_per_group() -> None:
    html = render_form(["nlp"], demo_policy())
    assert "NumPy, pandas, scikit-learn" in html
    assert set(form_data(html)["nlp"]["templates"]) == {"python", "pytorch"}  # type: ignore[index]


def test_group_without_gpus_caps_gpus_at_zero() -> None:
    data = form_data(render_form(["nlp"], demo_policy()))
    assert data["nlp"]["templates"]["pytorch"]["max"]["gpus"] == 0  # type: ignore[index]


def test_admin_configured_text_is_escaped() -> None:
    policy = demo_policy(
        groups=[
            {
                "name": "<b>x</b>",
                "display_name": "<script>alert(1)</script>",
                "limits": {"cpu": 1, "memory_gib": 1},
            }
        ]
    )
    html = render_form(["<b>x</b>"], policy)
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;" in html


def test_user_in_no_group_is_told_to_ask_an_admin() -> None:
    html = render_form(["nobody"], demo_policy(default_group=None))
    assert "not a member of any resource group" in html


def test_form_options_keeps_known_fields_and_drops_xsrf() -> None:
    assert form_options({"cpu": [" 2 "], "_xsrf": ["t"], "template": ["python"]}) == {
        "cpu": "2",
        "template": "python",
    }


def test_a_field_sent_twice_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="exactly once"):
        form_options({"group": ["vision", "nlp"]})
