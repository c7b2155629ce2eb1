"""What every command line of the project does with an error: a user's mistake (a bad setting, a
missing or damaged file, a full disk) is one line on stderr and exit status 2, an interruption
(Ctrl-C) one line and 130; ``--debug`` or ``SGMA_DEBUG=1`` shows the whole traceback instead."""

from __future__ import annotations

import functools
import os
import sys
from typing import Callable

import yaml

# What a user can cause and mend: bad values and settings (ValueError: DatasetError, RunMismatchError,
# RunFileError, …), missing, damaged or unwritable files (OSError: DataRootError, ImageReadError,
# DiskFullError, WeightsNotFoundError, …), and -p values that are not YAML.
USER_ERRORS = (ValueError, OSError, yaml.YAMLError)


def debugging(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("SGMA_DEBUG", "") not in ("", "0")


def command(main: Callable[[list[str]], int]) -> Callable[[list[str] | None], int]:
    """Wrap a command line's ``main(argv)`` (whose parser accepts ``--debug``) with the project's error rule.

    Under ``torchrun`` only rank 0 prints."""

    @functools.wraps(main)
    def run(argv: list[str] | None = None) -> int:
        argv = list(sys.argv[1:] if argv is None else argv)
        speak = os.environ.get("RANK", "0") == "0"
        try:
            return main(argv)
        except KeyboardInterrupt:
            if debugging(argv):
                raise
            if speak:
                print("interrupted: what was finished is kept; run the same command again to go on.", file=sys.stderr)
            return 130
        except USER_ERRORS as exc:
            if debugging(argv):
                raise
            if speak:
                message = " ".join(str(exc).split()) or type(exc).__name__
                print(f"error: {message}  (--debug or SGMA_DEBUG=1 shows the traceback)", file=sys.stderr)
            return 2

    return run


def add_debug_flag(parser) -> None:
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")
