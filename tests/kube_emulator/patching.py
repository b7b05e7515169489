"""The patch formats the API server accepts, applied to plain JSON objects.

* JSON merge patch (RFC 7386, ``application/merge-patch+json``);
* strategic merge patch (``application/strategic-merge-patch+json``), which
  the emulator treats as a merge patch: lists are replaced, not merged by
  key. Clients that send one (``kubernetes_asyncio`` does for every dict
  body) get the same result as on a cluster unless they patch a list;
* JSON patch (RFC 6902, ``application/json-patch+json``): ``add``,
  ``replace``, ``remove``, ``test``, ``move`` and ``copy``.

Nothing here knows about Kubernetes objects; the store decides what a patch
may change (metadata that the server owns, the status of a resource with a
``status`` subresource).
"""

from __future__ import annotations

import copy
from typing import Any

from .apistatus import ApiError, bad_request

__all__ = ["apply_json_patch", "apply_merge_patch", "content_type_to_patch_type"]

#: ``Content-Type`` of a PATCH request -> the emulator's name for the format.
_PATCH_TYPES = {
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/json-patch+json": "json",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+json": "apply",
}


def content_type_to_patch_type(content_type: str) -> str:
    """``merge``, ``strategic``, ``json`` or ``apply``; anything else is a 415 as on a cluster."""
    media = content_type.split(";")[0].strip().lower()
    if media not in _PATCH_TYPES:
        raise ApiError(
            415,
            "UnsupportedMediaType",
            f"the body of the request was in an unknown format - accepted media types include: "
            f"{', '.join(_PATCH_TYPES)}",
        )
    return _PATCH_TYPES[media]


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge recursively, ``null`` removes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise bad_request(
            "the server rejected our request due to an error in our request: "
            f"invalid JSON pointer {path!r}"
        )
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _resolve(document: Any, parts: list[str]) -> Any:
    for part in parts:
        if isinstance(document, dict):
            if part not in document:
                raise _unprocessable(f"doc is missing path: {'/'.join(parts)}")
            document = document[part]
        elif isinstance(document, list):
            document = document[_index(document, part, allow_end=False)]
        else:
            raise _unprocessable(f"doc is missing path: {'/'.join(parts)}")
    return document


def _index(sequence: list[Any], part: str, *, allow_end: bool) -> int:
    if part == "-" and allow_end:
        return len(sequence)
    try:
        index = int(part)
    except ValueError:
        raise _unprocessable(f"invalid array index {part!r}") from None
    limit = len(sequence) if allow_end else len(sequence) - 1
    if index < 0 or index > limit:
        raise _unprocessable(f"array index {index} out of bounds")
    return index


def _unprocessable(message: str) -> ApiError:
    return ApiError(422, "Invalid", message)


def _add(document: Any, parts: list[str], value: Any) -> Any:
    if not parts:
        return copy.deepcopy(value)
    parent = _resolve(document, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        parent[last] = copy.deepcopy(value)
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, allow_end=True), copy.deepcopy(value))
    else:
        raise _unprocessable(f"doc is missing path: /{'/'.join(parts)}")
    return document


def _remove(document: Any, parts: list[str]) -> Any:
    if not parts:
        raise _unprocessable("cannot remove the whole document")
    parent = _resolve(document, parts[:-1])
    last = parts[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise _unprocessable(f"unable to remove nonexistent key: {last}: missing value")
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(parent, last, allow_end=False)]
    else:
        raise _unprocessable(f"doc is missing path: /{'/'.join(parts)}")
    return document


def apply_json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 on a copy of ``target``; a failed operation changes nothing (422)."""
    if not isinstance(operations, list):
        # Word for word what the API server answers; kubernetes_asyncio's
        # CustomObjectsApi sends a dict body with this content type unless
        # told otherwise (_content_type="application/merge-patch+json").
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    document = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise bad_request(f"invalid JSON patch operation: {operation!r}")
        op = operation["op"]
        parts = _pointer(operation["path"])
        if op == "add":
            document = _add(document, parts, operation.get("value"))
        elif op == "remove":
            document = _remove(document, parts)
        elif op == "replace":
            _resolve(document, parts)  # the target must exist
            document = (
                _add(_remove(document, parts), parts, operation.get("value"))
                if parts
                else copy.deepcopy(operation.get("value"))
            )
        elif op == "test":
            if _resolve(document, parts) != operation.get("value"):
                raise _unprocessable(f"testing value {operation['path']} failed")
        elif op in ("move", "copy"):
            source = _pointer(operation.get("from", ""))
            value = copy.deepcopy(_resolve(document, source))
            if op == "move":
                document = _remove(document, source)
            document = _add(document, parts, value)
        else:
            raise bad_request(f"Unexpected kind: {op}")
    return document
