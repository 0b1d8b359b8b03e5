"""The ``mmalign`` command line.

Each area registers its own sub-commands from a small ``_cli`` module with a
``register(subparsers)`` function; those modules import heavy libraries (torch, librosa)
only inside the command handlers, so ``mmalign --help`` starts fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pickle
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


class _Parser(argparse.ArgumentParser):
    """argparse with usage errors on one line (the usage itself is one ``--help`` away)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mmalign",
        description="Multimodal alignment: sequences, speech and text, sets, and learned models.",
    )
    from mmalign import __version__

    parser.add_argument("--version", action="version", version=f"mmalign {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(sub)
    return parser


# Errors that mean "this input cannot be used": one line on stderr, exit 2. Readers raise these
# with the file, the problem and the fix in the message (UnsafePickleError and the pickle
# reader's CorruptPickleError are ValueErrors; UnicodeDecodeError is one too).
_INPUT_ERRORS = (ValueError, TypeError, OSError, EOFError, pickle.UnpicklingError)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if isinstance(exc, KeyError) and len(exc.args) == 1:
        text = str(exc.args[0])
    return text or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Run the ``mmalign`` command; return its exit status (0 ok, 2 bad input, 1 a bug).

    Bad input never ends in a traceback: one line on stderr names the file, the problem and the
    fix. An unexpected error (a bug) is one line too, unless ``MMALIGN_TRACEBACK=1`` is set.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else 2
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    prefix = f"mmalign {args.command}: error:"
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print(f"mmalign {args.command}: interrupted", file=sys.stderr)
        return 130
    except _INPUT_ERRORS as exc:
        if os.environ.get("MMALIGN_TRACEBACK"):
            raise
        print(f"{prefix} {_one_line(exc)}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - a bug: say so in one line, unless asked for more
        if os.environ.get("MMALIGN_TRACEBACK"):
            raise
        print(
            f"{prefix} internal error {type(exc).__name__}: {_one_line(exc)} (a bug: rerun with "
            "MMALIGN_TRACEBACK=1 for the traceback and report it)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
