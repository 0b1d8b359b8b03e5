"""The ``mmalign`` command line.

Each area registers its own sub-commands from a small ``_cli`` module with a
``register(subparsers)`` function; those modules import heavy libraries (torch, librosa)
only inside the command handlers, so ``mmalign --help`` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Modules that provide ``register(subparsers)``. A module that is missing (an area not yet
# built) is skipped, never silently half-registered.
_COMMAND_MODULES = (
    "mmalign.explicit._cli",
    "mmalign.speech._cli",
    "mmalign.train._cli",
    "mmalign.connections._cli",
    "mmalign._demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mmalign",
        description="Multimodal alignment: sequences, speech and text, sets, and learned models.",
    )
    from mmalign import __version__

    parser.add_argument("--version", action="version", version=f"mmalign {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, TypeError, FileNotFoundError, OSError) as exc:
        print(f"mmalign {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
