"""Validation of generated objects against the Kubernetes schemas, at one pinned version."""

from __future__ import annotations

from typing import Any

import kubernetes_validate

#: The Kubernetes version whose OpenAPI schemas every generated object must satisfy
#: (strict: no unknown fields). 1.33 is the oldest release still maintained upstream
#: that Zero to JupyterHub 4 supports; raise it with the oldest cluster we support.
KUBERNETES_VERSION = "1.33.0"


def validate(obj: dict[str, Any]) -> None:
    """Raise kubernetes_validate.ValidationError if ``obj`` is not a valid object."""
    kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
