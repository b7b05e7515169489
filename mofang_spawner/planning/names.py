"""Safe, collision-free names for users and groups.

A JupyterHub user or group name can be any Unicode string: ``Alice``,
``alice``, ``a.lice``, ``Ålice``, ``../etc``. The same escaped name is used for
directories under the storage root and, on Kubernetes, inside object names and
label values, so it must be valid for both:

* a name that is already lowercase ASCII letters and digits (at most
  :data:`MAX_PLAIN` characters) is kept as it is: ``alice`` stays ``alice``;
* any other name becomes a readable stem (lowercase ASCII letters and digits,
  runs of anything else turned into one ``-``) plus ``-`` and 10 hex digits of
  the SHA-256 of the original name: ``Alice`` becomes ``alice-3bc51062d7``.

A kept name never contains ``-`` and an escaped one always does, so the two
forms cannot collide; two escaped names collide only if their hashes do
(2^-40). The result matches ``[a-z0-9]([a-z0-9-]*[a-z0-9])?``, is at most 63
characters (a DNS-1123 label), and can never be ``.``, ``..`` or contain ``/``.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

__all__ = ["MAX_PLAIN", "safe_name"]

#: Longest name kept unescaped.
MAX_PLAIN = 40
_PLAIN = re.compile(r"^[a-z0-9]+$")
_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_STEM_LENGTH = 40
_HASH_LENGTH = 10


def safe_name(name: str) -> str:
    """Return the escaped form of a user or group name (see the module docstring)."""
    if _PLAIN.fullmatch(name) and len(name) <= MAX_PLAIN:
        return name
    # NFKD then dropping the combining marks gives a readable stem for most
    # Latin names (Ålice -> alice); the hash keeps it unique regardless.
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_only = decomposed.encode("ascii", "ignore").decode("ascii").lower()
    stem = _NOT_ALNUM.sub("-", ascii_only).strip("-")[:_STEM_LENGTH].strip("-") or "x"
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:_HASH_LENGTH]
    return f"{stem}-{digest}"
