"""The ``mofang`` command line.

One entry point with subcommands, each in a module named after what it does.
Subcommands import what they need lazily, so ``mofang --help`` is fast and
``mofang demo`` does not need the single-user side's dependencies loaded.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["main"]

#: Subcommand modules of ``mofang_lab.cli``, in the order ``--help`` lists them.
#: Each has ``add_parser(subparsers)`` and sets ``run`` on its parser.
_SUBCOMMANDS = ("demo", "plan", "submit", "jobs", "sweep")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mofang",
        description="Mofang: GPU notebooks, distributed jobs and sweeps on Kubernetes.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in _SUBCOMMANDS:
        importlib.import_module(f"mofang_lab.cli.{name}").add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.run(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
