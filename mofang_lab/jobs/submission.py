"""From a submit request to a prepared job: the notebook found, checked and snapshotted.

This is the backend-independent half of a submission, done before anything is
stored or started, so that bad input (a notebook outside the user's files or
missing, a role the kind does not have, a notebook that does not parse)
changes nothing. The backend then stores the prepared job and runs it.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

from pydantic import BaseModel, ConfigDict

from mofang_lab.jobs.request import SubmitRequest, build_spec
from mofang_lab.jobs.snapshot import Snapshot, snapshot_notebook
from mofang_lab.jobs.spec import JobSpec
from mofang_spawner.errors import InvalidRequestError, NotFoundError, PolicyError
from mofang_spawner.planning import ServerPlan

__all__ = [
    "PreparedJob",
    "prepare_submission",
    "read_notebook",
    "read_only_area",
    "resolve_notebook",
    "shared_areas",
]


class PreparedJob(BaseModel):
    """A validated spec and its snapshot: everything a backend needs to start the job."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    spec: JobSpec
    snapshot: Snapshot


def resolve_notebook(
    path: str, root_dir: Path, *, plan: ServerPlan | None = None
) -> tuple[Path, str]:
    """The notebook's real path and its path relative to ``root_dir`` (the user's files).

    Symbolic links are followed before the check, so a link pointing outside
    the user's files is outside too. The one exception is the project and
    global areas of ``plan`` where the spawner shows them as links in the
    user's files (the local spawner): a notebook in the real directory of one
    of those is accepted, under the path the user sees.
    """
    if "\x00" in path:
        raise InvalidRequestError("The notebook path contains a NUL character; check the path.")
    root = root_dir.resolve()
    candidate = Path(path) if os.path.isabs(path) else root / path
    try:
        resolved = candidate.resolve()
    except OSError as exc:  # a name too long
        raise InvalidRequestError(f"The notebook path cannot be used ({exc.strerror}).") from exc
    except RuntimeError as exc:  # Python before 3.13 says so for a loop of links
        raise InvalidRequestError(f"{path} is a loop of symbolic links; check the path.") from exc
    if resolved.is_relative_to(root):
        relative = resolved.relative_to(root).as_posix()
    else:
        shared = _in_shared_area(resolved, root, plan)
        if shared is None:
            raise PolicyError(
                f"{path} is outside your files ({root}); only notebooks in your own files "
                "can be submitted (your groups' project areas included). Copy it into your "
                "files first."
            )
        relative = shared
    try:
        is_file = resolved.is_file()
    except OSError as exc:
        raise InvalidRequestError(f"{relative} cannot be read ({exc.strerror}).") from exc
    if not is_file:
        raise NotFoundError(f"There is no notebook {relative!r} in your files; check the path.")
    if resolved.suffix != ".ipynb":
        raise InvalidRequestError(f"{relative} is not a notebook (.ipynb); submit a notebook.")
    return resolved, relative


def shared_areas(plan: ServerPlan | None, root: Path) -> dict[PurePosixPath, Path]:
    """The plan's project and global areas that are links in the user's files.

    Path in the user's files → the area's real directory. Only where the user's
    files are the user level's directory under the storage root (the local
    spawner's layout); on a cluster the areas are mounts inside the user's
    files, so there is nothing to add.
    """
    if plan is None:
        return {}
    user = next((mount for mount in plan.mounts if mount.level == "user"), None)
    if user is None:
        return {}
    parts = PurePosixPath(user.source).parts
    if not parts or root.parts[-len(parts) :] != parts:
        return {}
    storage_root = Path(*root.parts[: -len(parts)])
    return {
        PurePosixPath(mount.path): storage_root / mount.source
        for mount in plan.mounts
        if mount.level != "user" and mount.path
    }


def read_only_area(relative: str, plan: ServerPlan | None) -> str | None:
    """The read-only area of ``plan`` (the global one, normally) holding ``relative``, if any."""
    if plan is None:
        return None
    path = PurePosixPath(relative)
    for mount in plan.mounts:
        if mount.read_only and mount.path and path.is_relative_to(mount.path):
            return mount.path
    return None


def _in_shared_area(resolved: Path, root: Path, plan: ServerPlan | None) -> str | None:
    """The path the user sees for ``resolved``, if it is in one of their shared areas."""
    for link, area in shared_areas(plan, root).items():
        real = area.resolve()
        if resolved.is_relative_to(real):
            return (link / resolved.relative_to(real).as_posix()).as_posix()
    return None


def read_notebook(path: Path, relative: str) -> str:
    """The text of the notebook ``resolve_notebook`` found at ``path`` (``relative``)."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(
            f"{relative} is not UTF-8 text, so not a notebook. Open and save it in "
            "JupyterLab (which writes notebooks as UTF-8), then try again."
        ) from exc


def prepare_submission(
    request: SubmitRequest, *, root_dir: Path, plan: ServerPlan | None, backend: str
) -> PreparedJob:
    """Check ``request``, read its notebook and convert it; raises before any side effect."""
    path, relative = resolve_notebook(request.notebook, root_dir, plan=plan)
    spec = build_spec(request, notebook=relative, plan=plan, backend=backend)
    text = read_notebook(path, relative)
    snapshot = snapshot_notebook(text, source_name=relative, parameters=spec.parameters)
    return PreparedJob(spec=spec, snapshot=snapshot)
