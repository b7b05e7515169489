"""The job model: what a job is, its states, and how a notebook becomes one.

Pure of any server or web library (an import-linter contract checks it):
``spec`` (``JobSpec``), ``states``, ``request`` (the REST body and its checks),
``parameters`` and ``snapshot`` (notebook to program), ``folder`` (the job
folder's layout), ``ids`` and ``submission`` (request to prepared job).
Import from the modules: this package re-exports nothing, so the CLI can use
``parameters`` without loading nbconvert.
"""
