"""Job backends: the interface (``base``) and its implementations.

``local/`` runs jobs as local processes; ``kubernetes/`` creates the Kubeflow
operators' objects. Backends never import each other (an import-linter
contract checks it) and the REST handlers know only ``base``.
"""
