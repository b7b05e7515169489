"""``mofang sweep NOTEBOOK ... --backend kubernetes --dry-run``: the Experiment, without a cluster.

Like ``helm template``: the sweep is checked exactly as the server checks it
(the request, the notebook and its cell tagged ``parameters``, the trial's
job, Katib's admission rules) and the Katib ``Experiment`` it would create is
printed as YAML, its trial's job inside it (``spec.trialTemplate.trialSpec``).
Nothing is started and no server or cluster is needed: the objects come from
the same pure builders the cluster backend uses.

Inside a Mofang server (a terminal of JupyterLab) the server's plan gives the
image, mounts and group; elsewhere ``--image`` names the image. The cluster
settings are the defaults (Volcano gang scheduling, the ``jobs`` folder); an
administrator's own settings can change those parts of the real objects.
"""

from __future__ import annotations

import argparse
import getpass
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = ["NAMESPACE_FILE", "experiment_yaml", "sweep_experiment_for"]

#: Where a pod finds its own namespace (the default namespace of a dry run in a server).
NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

_HEADER = """\
# The Katib Experiment this sweep would create (nothing was created).
# Katib runs each trial as the job in spec.trialTemplate.trialSpec, with every
# ${trialParameters.NAME} replaced by the trial's value; the program reads the
# values from MOFANG_PARAMETERS, after the notebook's cell tagged 'parameters'.
"""


def sweep_experiment_for(
    body: dict[str, Any],
    *,
    notebook: Path,
    namespace: str,
    image: str | None,
) -> dict[str, Any]:
    """The checked Experiment of the sweep request ``body`` (``request_from_args``'s)."""
    from mofang_lab.backends.kubernetes.manifests import ClusterJobSettings
    from mofang_lab.environment import load_plan
    from mofang_lab.jobs.ids import new_job_id
    from mofang_lab.jobs.request import build_spec, parse_model
    from mofang_lab.jobs.snapshot import snapshot_notebook
    from mofang_lab.jobs.submission import read_notebook, resolve_notebook
    from mofang_lab.sweeps.katib.trial_job import sweep_experiment
    from mofang_lab.sweeps.notebook import parameter_variables
    from mofang_lab.sweeps.request import SweepRequest, trial_request
    from mofang_spawner.errors import InvalidRequestError

    request = parse_model(SweepRequest, body, what="sweep")
    plan = load_plan()
    if plan is None and image is None:
        raise InvalidRequestError(
            "Outside a Mofang server there is no image to run trials in; name one with "
            "--image IMAGE (the notebook server's image, normally)."
        )
    notebook = notebook.resolve()
    root = Path.cwd() if notebook.is_relative_to(Path.cwd()) else notebook.parent
    path, relative = resolve_notebook(str(notebook), root, plan=plan)
    text = read_notebook(path, relative)
    variables = parameter_variables(text, source_name=relative)
    unknown = [name for name in request.searched_names() if name not in variables]
    if unknown:
        raise InvalidRequestError(
            f"{relative} does not assign {', '.join(unknown)} in its cell tagged "
            f"'parameters', so a trial could not set it. That cell assigns: "
            f"{', '.join(variables) or 'nothing'}. Search those, or add the variable there."
        )
    name = request.name or PurePosixPath(relative).stem or "sweep"
    sweep_id = new_job_id(name)
    # Searched values reach each trial at run time; only the fixed ones are in the snapshot.
    submit = trial_request(request, notebook=relative, name=name, key=sweep_id, values={})
    spec = build_spec(submit, notebook=relative, plan=plan, backend="kubernetes")
    snapshot_notebook(text, source_name=relative, parameters=spec.parameters)
    return sweep_experiment(
        sweep=request.settings,
        spec=spec,
        sweep_id=sweep_id,
        namespace=namespace,
        owner=plan.user if plan is not None else getpass.getuser(),
        plan=plan,
        settings=ClusterJobSettings(default_image=image),
    )


def experiment_yaml(experiment: dict[str, Any]) -> str:
    """The Experiment as the dry run prints it: a short header, then YAML."""
    import yaml

    return _HEADER + yaml.safe_dump(experiment, sort_keys=False, allow_unicode=True)


def default_namespace() -> str:
    """The server's own namespace inside a pod, else ``default``."""
    try:
        return NAMESPACE_FILE.read_text().strip() or "default"
    except OSError:
        return "default"


def run_dry_run(args: argparse.Namespace, body: dict[str, Any]) -> str:
    """The text ``mofang sweep --backend kubernetes --dry-run`` prints."""
    experiment = sweep_experiment_for(
        body,
        notebook=Path(args.notebook),
        namespace=args.namespace or default_namespace(),
        image=args.image,
    )
    return experiment_yaml(experiment)
