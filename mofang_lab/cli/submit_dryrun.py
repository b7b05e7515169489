"""``mofang submit NOTEBOOK ... --backend kubernetes --dry-run``: the job's object, no cluster.

Like ``helm template``: the request and the notebook are checked as the
server checks them, and the object the Kubernetes backend would create (a
PyTorchJob, TFJob, MPIJob or Job) is printed as YAML, from the same pure
builder the backend uses. No server and no cluster are needed.

Inside a Mofang server (a terminal of JupyterLab) the server's plan gives
the image, mounts, group, node pools and queue, and the spawner's storage
settings say which claims hold them; elsewhere ``--image`` names the image
and the defaults stand in for the rest.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

__all__ = ["job_objects_for", "run_dry_run"]

_HEADER = """\
# What this job would create on the cluster (nothing was created). The operator
# starts one pod per replica from these templates; the job folder is written to
# your storage at submit time.
"""


def job_objects_for(
    body: dict[str, Any], *, notebook: Path, namespace: str, image: str | None
) -> list[dict[str, Any]]:
    """The objects of the submit request ``body`` (``request_from_args``'s)."""
    from mofang_lab.backends.kubernetes.manifests import (
        ClusterJobSettings,
        job_manifest,
        operator_violations,
    )
    from mofang_lab.environment import load_plan, load_storage
    from mofang_lab.jobs.ids import new_job_id
    from mofang_lab.jobs.request import SubmitRequest, parse_model
    from mofang_lab.jobs.submission import prepare_submission
    from mofang_spawner.errors import InvalidRequestError
    from mofang_spawner.kubernetes.objects import WORKSPACE_ENV
    from mofang_spawner.kubernetes.storage import StorageSettings

    request = parse_model(SubmitRequest, body, what="job request")
    plan = load_plan()
    if plan is None and image is None:
        raise InvalidRequestError(
            "Outside a Mofang server there is no image to run the job in; name one with "
            "--image IMAGE (the notebook server's image, normally)."
        )
    notebook = notebook.resolve()
    workspace = os.environ.get(WORKSPACE_ENV)
    if workspace:  # in a server's terminal: only the user's files, as the server says
        root = Path(workspace)
    else:
        root = Path.cwd() if notebook.is_relative_to(Path.cwd()) else notebook.parent
    prepared = prepare_submission(request, root_dir=root, plan=plan, backend="kubernetes")
    settings = ClusterJobSettings(
        storage=StorageSettings.model_validate(load_storage()), default_image=image
    )
    obj = job_manifest(
        spec=prepared.spec,
        name=new_job_id(prepared.spec.name),
        namespace=namespace,
        owner=plan.user if plan is not None else "you",
        plan=plan,
        settings=settings,
    )
    problems = operator_violations(obj)
    if problems:
        raise InvalidRequestError("The job cannot run on the cluster: " + "; ".join(problems))
    return [obj]


def run_dry_run(args: argparse.Namespace, body: dict[str, Any]) -> str:
    """The text ``mofang submit --backend kubernetes --dry-run`` prints."""
    import yaml

    from mofang_lab.environment import pod_namespace

    objects = job_objects_for(
        {**body, "image": args.image} if args.image else body,
        notebook=Path(args.notebook),
        namespace=args.namespace or pod_namespace(),
        image=args.image,
    )
    return _HEADER + yaml.safe_dump_all(objects, sort_keys=False, allow_unicode=True)
