"""Job ids: short, unique, and valid as file names and Kubernetes object names.

An id is a readable stem taken from the job's name plus ``-`` and six random
characters: ``train-ddp-k3x9qa``. The stem follows the escaping style of
:func:`mofang_spawner.planning.safe_name` (NFKD, lowercase ASCII letters and
digits, runs of anything else become one ``-``), is cut to 30 characters and
starts with a letter, so ``<id>-launcher-12`` is still a DNS-1035 label (the
rule for Service names) well under 63 characters. The random part is what
makes an id unique; callers retry on the rare collision.
"""

from __future__ import annotations

import re
import secrets
import string
import unicodedata

__all__ = ["JOB_ID_PATTERN", "new_job_id"]

#: What every id matches; handlers check ids from URLs against it before any lookup.
JOB_ID_PATTERN = re.compile(r"^[a-z]([a-z0-9-]{0,38}[a-z0-9])?\Z")

_NOT_ALNUM = re.compile(r"[^a-z0-9]+")
_STEM_LENGTH = 30
_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits
_SUFFIX_LENGTH = 6


def new_job_id(name: str) -> str:
    """A fresh id for a job called ``name``."""
    decomposed = unicodedata.normalize("NFKD", name)
    ascii_only = decomposed.encode("ascii", "ignore").decode("ascii").lower()
    stem = _NOT_ALNUM.sub("-", ascii_only).strip("-")[:_STEM_LENGTH].strip("-")
    if not stem:
        stem = "job"
    elif not stem[0].isalpha():
        stem = f"job-{stem}"[:_STEM_LENGTH].strip("-")
    suffix = "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(_SUFFIX_LENGTH))
    return f"{stem}-{suffix}"
