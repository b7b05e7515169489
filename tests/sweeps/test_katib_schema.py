"""The Experiments the builder makes, checked against Katib's own OpenAPI schema.

Katib's CRDs carry no schema (they preserve unknown fields), so the reference
is Katib's ``api/openapi-spec/swagger.json`` (``katib/openapi-spec-swagger.json``
under ``MOFANG_CRDS_DIR``), component ``v1beta1.Experiment``, with its
``$ref``s resolved inside the file. The check is strict: a field the schema
does not know is an error, as a misspelt field would otherwise be dropped
silently. Each trial's job, as Katib would create it, is checked against its
own operator's CRD schema (and a batch Job against Kubernetes' schema).

These tests skip, saying why, without the schema files; the golden tests in
``test_katib_experiment.py`` and ``test_katib_trial_kinds.py`` always run.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from mofang_lab.sweeps.spec import ALGORITHMS
from tests.crds import validate_custom
from tests.kubernetes.fake_katib import substitute
from tests.kubernetes.schemas import validate
from tests.sweeps.test_katib_experiment import algorithm_sweep, build
from tests.sweeps.test_katib_trial_kinds import ASSIGNMENTS, KINDS, experiment

KATIB_FILE = Path("katib") / "openapi-spec-swagger.json"
COMPONENT = "v1beta1.Experiment"


@pytest.fixture
def katib_schema(crds_dir: Path) -> dict[str, Any]:
    path = crds_dir / KATIB_FILE
    if not path.is_file():
        pytest.skip(
            f"Katib's OpenAPI schema is not at {path}: set MOFANG_CRDS_DIR to a folder "
            "that has it (scripts/fetch-crds.sh downloads it)"
        )
    return _load(path)


@functools.cache
def _load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


def problems(obj: dict[str, Any], document: dict[str, Any]) -> list[str]:
    """Schema errors and unknown fields of ``obj`` as a v1beta1.Experiment."""
    root = {**document, "$ref": f"#/components/schemas/{COMPONENT}"}
    validator = jsonschema.Draft7Validator(root)
    found = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(obj)]
    schema = document["components"]["schemas"][COMPONENT]
    found += [f"{path}: not in the schema" for path in unknown(obj, schema, document, "")]
    return found


def _resolved(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    while True:
        if "$ref" in schema:
            schema = document["components"]["schemas"][schema["$ref"].rpartition("/")[2]]
        elif "allOf" in schema and len(schema["allOf"]) == 1 and "properties" not in schema:
            schema = schema["allOf"][0]
        else:
            return schema


def unknown(
    value: Any, schema: dict[str, Any], document: dict[str, Any], where: str
) -> Iterator[str]:
    schema = _resolved(schema, document)
    if isinstance(value, dict):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if properties is not None and key in properties:
                yield from unknown(item, properties[key], document, f"{where}.{key}")
            elif isinstance(extra, dict):
                yield from unknown(item, extra, document, f"{where}.{key}")
            elif properties is not None and extra is not True:
                yield f"{where}.{key}"
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from unknown(item, schema["items"], document, f"{where}[{index}]")


@pytest.mark.parametrize("name", ALGORITHMS)
def test_every_algorithm_makes_a_valid_experiment(name: str, katib_schema: dict[str, Any]) -> None:
    obj = build(algorithm_sweep(name, early_stopping={"min_trials_required": 2}))
    assert problems(obj, katib_schema) == []


@pytest.mark.parametrize("kind", KINDS)
def test_every_job_kind_makes_a_valid_experiment(kind: str, katib_schema: dict[str, Any]) -> None:
    assert problems(experiment(kind), katib_schema) == []


@pytest.mark.parametrize("kind", KINDS)
def test_each_trials_job_is_valid_for_its_operator(
    kind: str, request: pytest.FixtureRequest
) -> None:
    job = substitute(experiment(kind), ASSIGNMENTS, "train-k3x9qa-5x7z9kqd")
    job["metadata"]["namespace"] = "alice"
    if kind == "python":
        validate(job)  # Kubernetes' own schema, from kubernetes-validate: always here
    else:
        request.getfixturevalue("crds_dir")
        validate_custom(job)


def test_the_schema_check_can_fail(katib_schema: dict[str, Any]) -> None:
    obj = build(algorithm_sweep("random"))
    obj["spec"]["maxTrialCount"] = "8"
    obj["spec"]["maxTrialCounts"] = 8
    obj["spec"]["trialTemplate"]["primaryPodLabel"] = {"a": "b"}
    found = problems(obj, katib_schema)
    assert any("'8' is not of type 'integer'" in p for p in found), found
    assert ".spec.maxTrialCounts: not in the schema" in found
    assert ".spec.trialTemplate.primaryPodLabel: not in the schema" in found
