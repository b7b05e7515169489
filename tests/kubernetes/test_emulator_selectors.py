"""Selectors, patches and quantities: the emulator's pure parts, then selectors over HTTP."""

from __future__ import annotations

import asyncio
from fractions import Fraction
from typing import Any

import pytest
from kubernetes_asyncio.client import ApiException, CoreV1Api

from tests.kube_emulator import ApiError, KubeEmulator
from tests.kube_emulator.clients import kubernetes_client
from tests.kube_emulator.patching import apply_json_patch, apply_merge_patch
from tests.kube_emulator.quantities import parse_quantity, pod_requests
from tests.kube_emulator.selectors import parse_field_selector, parse_label_selector

LABELS = {"app": "web", "tier": "front", "release": "3"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app=api", False),
        ("app!=api", True),
        ("missing!=x", True),
        ("app in (api, web)", True),
        ("app in (api,db)", False),
        ("app notin (api,db)", True),
        ("missing notin (a)", True),
        ("tier", True),
        ("missing", False),
        ("!missing", True),
        ("!tier", False),
        ("app=web,tier in (front,back),!missing", True),
        ("app=web,tier=back", False),
        ("release>2", True),
        ("release<2", False),
    ],
)
def test_label_selector_grammar(selector: str, matches: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is matches


def test_malformed_label_selector_is_a_400() -> None:
    with pytest.raises(ApiError) as caught:
        parse_label_selector("app in web")
    assert caught.value.code == 400 and caught.value.reason == "BadRequest"


def test_field_selectors_know_the_fields_of_each_kind() -> None:
    pod = {"metadata": {"name": "web", "namespace": "default"}, "status": {"phase": "Running"}}
    assert parse_field_selector("status.phase=Running,metadata.name=web", "Pod").matches(pod)
    assert not parse_field_selector("status.phase!=Running", "Pod").matches(pod)
    event = {"metadata": {"name": "e"}, "involvedObject": {"kind": "Pod", "name": "web"}}
    assert parse_field_selector("involvedObject.kind=Pod", "Event").matches(event)
    with pytest.raises(ApiError) as caught:
        parse_field_selector("status.phase=Running", "ConfigMap")
    assert caught.value.code == 400
    assert caught.value.message == "field label not supported: status.phase"


def test_merge_patch_follows_rfc_7386() -> None:
    target = {"a": {"b": 1, "c": 2}, "list": [1, 2], "keep": True}
    patched = apply_merge_patch(target, {"a": {"b": None, "d": 3}, "list": [3]})
    assert patched == {"a": {"c": 2, "d": 3}, "list": [3], "keep": True}
    assert target["a"] == {"b": 1, "c": 2}  # the original is untouched


def test_json_patch_operations_and_failure_changes_nothing() -> None:
    target: dict[str, Any] = {"spec": {"items": ["a", "c"]}, "x": 1}
    patched = apply_json_patch(
        target,
        [
            {"op": "add", "path": "/spec/items/1", "value": "b"},
            {"op": "add", "path": "/spec/items/-", "value": "d"},
            {"op": "replace", "path": "/x", "value": 2},
            {"op": "remove", "path": "/spec/items/0"},
            {"op": "copy", "from": "/x", "path": "/y"},
            {"op": "test", "path": "/y", "value": 2},
        ],
    )
    assert patched == {"spec": {"items": ["b", "c", "d"]}, "x": 2, "y": 2}
    with pytest.raises(ApiError) as caught:
        apply_json_patch(target, [{"op": "remove", "path": "/nothing"}])
    assert caught.value.code == 422
    assert target == {"spec": {"items": ["a", "c"]}, "x": 1}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("500m", Fraction(1, 2)),
        ("2", Fraction(2)),
        ("1.5", Fraction(3, 2)),
        ("128Gi", Fraction(128 * 2**30)),
        ("1G", Fraction(10**9)),
        ("1e3", Fraction(1000)),
        ("100Mi", Fraction(100 * 2**20)),
        ("8", Fraction(8)),
    ],
)
def test_quantities_parse_exactly(text: str, value: Fraction) -> None:
    assert parse_quantity(text) == value


def test_bad_quantity_is_refused() -> None:
    with pytest.raises(ValueError, match="quantities must match"):
        parse_quantity("lots")


def test_pod_requests_take_limits_where_requests_are_missing() -> None:
    pod = {
        "spec": {
            "containers": [
                {
                    "resources": {
                        "limits": {"nvidia.com/gpu": "1", "cpu": "2"},
                        "requests": {"cpu": "1"},
                    }
                },
                {"resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
            ]
        }
    }
    assert pod_requests(pod) == {
        "nvidia.com/gpu": Fraction(1),
        "cpu": Fraction(3, 2),
        "memory": Fraction(2**30),
    }


def test_selectors_over_http() -> None:
    with KubeEmulator(kubelet=False) as kube:
        for name, labels, phase in [
            ("a", {"app": "web"}, "Running"),
            ("b", {"app": "api"}, "Pending"),
            ("c", {"app": "web", "canary": "1"}, "Pending"),
        ]:
            kube.create(
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": name, "labels": labels},
                    "spec": {"containers": [{"name": "c", "image": "x"}]},
                }
            )
            kube.patch_status("pods", "default", name, {"phase": phase})
        kube.add_event(
            involved_object=kube.get("pods", "default", "a"),
            reason="FailedScheduling",
            message="no",
            type="Warning",
        )
        kube.add_event(
            involved_object=kube.get("pods", "default", "b"), reason="Scheduled", message="yes"
        )

        async def scenario() -> tuple[list[str], list[str], list[str], ApiException]:
            async with kubernetes_client(kube) as api:
                v1 = CoreV1Api(api)
                by_label = await v1.list_namespaced_pod(
                    "default", label_selector="app in (web),!canary"
                )
                by_field = await v1.list_namespaced_pod(
                    "default", field_selector="status.phase=Pending"
                )
                events = await v1.list_namespaced_event(
                    "default", field_selector="involvedObject.name=a,involvedObject.kind=Pod"
                )
                with pytest.raises(ApiException) as caught:
                    await v1.list_namespaced_pod("default", field_selector="spec.hostname=x")
                return (
                    [p.metadata.name for p in by_label.items],
                    [p.metadata.name for p in by_field.items],
                    [e.reason for e in events.items],
                    caught.value,
                )

        labelled, phased, reasons, error = asyncio.run(scenario())
    assert labelled == ["a"]
    assert phased == ["b", "c"]
    assert reasons == ["FailedScheduling"]
    assert error.status == 400
