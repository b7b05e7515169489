"""``mofang plan``: the plan, Pod and claims of a spawn as YAML, with no hub and no cluster."""

from __future__ import annotations

import json

import pytest
import yaml

from mofang_lab.cli import main
from tests.policies import ROOT

VALUES = ROOT / "hub-config" / "kubernetes" / "values.yaml"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["plan", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_prints_the_plan_then_the_pod_as_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys,
        "--user",
        "alice",
        "--group",
        "vision",
        "--template",
        "pytorch",
        "--gpus",
        "1",
        "--gpu-type",
        "a100",
    )
    assert code == 0
    plan, pod = list(yaml.safe_load_all(out))
    assert plan["kind"] == "ServerPlan" and plan["gpu"]["resources"] == {"nvidia.com/gpu": "1"}
    assert pod["kind"] == "Pod" and pod["metadata"]["name"] == "jupyter-alice"
    assert pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "the pod mounts these claims" in out and "mofang-project-vision" in out


def test_a_values_file_gives_the_same_pod_as_the_hub_config(
    capsys: pytest.CaptureFixture[str],
) -> None:
    args = ["--user", "bob", "--groups", "nlp", "--gpus", "1", "--template", "pytorch", "--json"]
    _, from_config, _ = run(capsys, *args)
    _, from_values, _ = run(capsys, "--config", str(VALUES), *args)
    pod_config = json.loads(from_config)[1]
    pod_values = json.loads(from_values)[1]
    assert pod_values["spec"]["schedulerName"] == "volcano"
    # The hub config adds what the chart derives from singleuser.*: nothing else differs.
    pod_config["spec"]["containers"][0].pop("args")
    for pod in (pod_config, pod_values):
        pod["spec"].pop("securityContext", None)
        pod["spec"]["containers"][0].pop("securityContext", None)
        pod["spec"]["containers"][0]["env"] = [
            e for e in pod["spec"]["containers"][0]["env"] if e["name"] != "JUPYTERHUB_DEFAULT_URL"
        ]
    assert pod_config == pod_values


def test_objects_only_prints_what_kubectl_can_read(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--user", "carol", "--groups", "vision,nlp", "--objects-only")
    assert code == 0
    assert [doc["kind"] for doc in yaml.safe_load_all(out)] == ["Pod"]


def test_a_refused_request_prints_the_users_message_and_creates_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "--user", "bob", "--groups", "nlp", "--group", "vision")
    assert code == 2
    assert out == ""
    assert (
        err == "mofang plan: refused: You are not a member of group 'vision'. Your groups: 'nlp'.\n"
    )
    code, _, err = run(capsys, "--user", "bob", "--groups", "nlp", "--gpu-type", "h100")
    assert code == 2 and "Unknown GPU type 'h100'" in err
    code, _, err = run(capsys, "--user", "bob", "--groups", "nlp", "--gpus", "lots")
    assert code == 2 and "GPUs must be a number, not 'lots'" in err


def test_a_broken_configuration_names_the_setting(
    capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    from pathlib import Path

    bad = Path(str(tmp_path)) / "values.yaml"
    bad.write_text(
        "hub:\n  config:\n    MofangStorage:\n      home_mount_path: relative\n"
        "    MofangPolicy:\n      templates:\n        - {name: py, image: x, "
        "default: {cpu: 1, memory_gib: 1}, maximum: {cpu: 1, memory_gib: 1}}\n"
        "      default_group: {name: all, limits: {cpu: 1, memory_gib: 1}}\n"
    )
    code, _, err = run(capsys, "--config", str(bad), "--user", "x")
    assert code == 1
    assert "Invalid c.MofangStorage configuration:" in err and "home_mount_path" in err
