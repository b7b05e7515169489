"""The upstream schemas of the custom resources Mofang creates, from one setting.

The files are read where they lie: ``MOFANG_CRDS_DIR``, by default the
``shared/crds`` folder beside the repository (``scripts/fetch-crds.sh``
downloads the same pinned files from upstream). Tests that need them skip,
with the reason printed, when the folder is absent.

A CRD schema is OpenAPI v3, which JSON Schema validates (``jsonschema``);
what it cannot say is that the API server silently drops fields the schema
does not know, so :func:`validate_custom` also fails on every unknown field:
a typo in a builder would otherwise vanish on the cluster without an error.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CRDS_DIR = Path(os.environ.get("MOFANG_CRDS_DIR") or ROOT.parent / "shared" / "crds")

#: Where each kind's definition is, below CRDS_DIR.
CRD_FILES = {
    ("kubeflow.org/v1", "PyTorchJob"): "training-operator-v1/kubeflow.org_pytorchjobs.yaml",
    ("kubeflow.org/v1", "TFJob"): "training-operator-v1/kubeflow.org_tfjobs.yaml",
    ("kubeflow.org/v2beta1", "MPIJob"): "mpi-operator/kubeflow.org_mpijobs.yaml",
    ("scheduling.volcano.sh/v1beta1", "PodGroup"): "volcano/scheduling.volcano.sh_podgroups.yaml",
    ("scheduling.volcano.sh/v1beta1", "Queue"): "volcano/scheduling.volcano.sh_queues.yaml",
}


def require_crds() -> Path:
    """The schema folder, or skip the test saying how to get it."""
    if not (CRDS_DIR / "training-operator-v1").is_dir():
        pytest.skip(
            f"the upstream CRD schemas are not at {CRDS_DIR}: set MOFANG_CRDS_DIR, or run "
            "scripts/fetch-crds.sh to download them"
        )
    return CRDS_DIR


@functools.cache
def crd_schema(api_version: str, kind: str) -> dict[str, Any]:
    """The openAPIV3Schema of ``kind`` at ``api_version``."""
    path = require_crds() / CRD_FILES[(api_version, kind)]
    crd = yaml.safe_load(path.read_text())
    version = api_version.rpartition("/")[2]
    for entry in crd["spec"]["versions"]:
        if entry["name"] == version:
            schema: dict[str, Any] = entry["schema"]["openAPIV3Schema"]
            return schema
    raise LookupError(f"{path} defines no version {version}")


def validate_custom(obj: dict[str, Any]) -> None:
    """Raise AssertionError when ``obj`` breaks its CRD schema or has a field it lacks."""
    schema = crd_schema(obj["apiVersion"], obj["kind"])
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(obj), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    unknown = list(unknown_fields(obj, schema, ""))
    assert not unknown, f"fields the schema does not know (the API server drops them): {unknown}"


def unknown_fields(value: Any, schema: dict[str, Any], where: str) -> Iterator[str]:
    if schema.get("x-kubernetes-preserve-unknown-fields"):
        return
    if isinstance(value, dict):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if properties is not None and key in properties:
                yield from unknown_fields(item, properties[key], f"{where}.{key}")
            elif isinstance(extra, dict):
                yield from unknown_fields(item, extra, f"{where}.{key}")
            elif properties is not None and where and not extra:
                yield f"{where}.{key}"
            elif properties is not None and not where and key not in ("apiVersion", "kind"):
                yield key
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            yield from unknown_fields(item, schema["items"], f"{where}[{index}]")
