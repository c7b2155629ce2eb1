"""What every command line of the project does with an error: a user's mistake (a bad setting, a
missing or damaged file, a full disk) is one line on stderr and exit status 2, an interruption
(Ctrl-C) one line and 130; ``--debug`` or ``SGMA_DEBUG=1`` shows the whole traceback instead."""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable

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
    """``--debug``: a user's error shows its whole traceback instead of one line."""
    parser.add_argument("--debug", action="store_true", help="show the full traceback of an error")


# ---- the options every command spells the same way ------------------------------------------------------
def add_parameter_option(parser, what: str = "a RunConfig setting") -> None:
    """``-p NAME VALUE`` (repeatable): ``what``, VALUE parsed as YAML (:func:`parse_parameters`)."""
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help=f"{what}; VALUE is parsed as YAML (3, 0.01, null, '[0, 1]', learned)")


def parse_parameters(pairs: list[tuple[str, str]] | list[list[str]]) -> dict:
    """``-p`` pairs as a dict of YAML values; a name given twice is an error."""
    params: dict = {}
    for name, text in pairs:
        if name in params:
            raise ValueError(f"-p {name} is given twice; give each parameter once.")
        params[name] = yaml.safe_load(text)
    return params


def parse_seeds(text: str | None) -> list[int] | None:
    """``--seeds``: ``"0,1,2"``, ``"[0, 1, 2]"`` or ``"3"`` as a list of integers (``None`` stays ``None``:
    the profile's seeds). The values are checked where the experiment is made."""
    if text is None:
        return None
    value = yaml.safe_load(text if text.strip().startswith("[") else f"[{text}]")
    if not isinstance(value, list) or not all(isinstance(s, int) and not isinstance(s, bool) for s in value):
        raise ValueError(f"--seeds {text!r}: give whole numbers such as 0,1,2.")
    return value


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (argparse turns the error into one line, exit 2)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def add_run_options(parser, profiles: tuple[str, ...] | None = None, dataset: str | None = "SYN",
                    parameters: bool = True) -> None:
    """The options of every command that trains or evaluates: ``--profile``, ``--dataset`` (where the
    command takes one; default ``dataset``), ``--seeds``, ``--data-root``, ``--runs-dir`` and, with
    ``parameters``, ``-p NAME VALUE`` for any :class:`~sgma_core.profiles.RunConfig` setting."""
    parser.add_argument("--profile", default="cpu", choices=profiles,
                        help=f"{', '.join(profiles) if profiles else 'smoke, cpu or paper'} (default: cpu)")
    if dataset is not None:
        parser.add_argument("--dataset", default=dataset, help=f"SYN, CUB, AWA2 or FLO (default: {dataset})")
    parser.add_argument("--seeds", default=None, help="e.g. 0,1,2 (default: the profile's seeds)")
    parser.add_argument("--data-root", default=None, help="default: $SGMA_DATA_ROOT, else <repo>/data")
    parser.add_argument("--runs-dir", default=None, help="default: $SGMA_RUNS_ROOT, else <repo>/runs")
    if parameters:
        add_parameter_option(parser)
    add_debug_flag(parser)


def run_overrides(args) -> dict:
    """The ``-p`` settings of a command made with :func:`add_run_options`, refusing those that have an
    option of their own (``profile``, ``dataset``, ``seed``, ``seeds``)."""
    params = parse_parameters(getattr(args, "parameter", []))
    own = {"profile": "--profile", "dataset": "--dataset", "seed": "--seeds", "seeds": "--seeds"}
    for name, option in own.items():
        if name in params:
            raise ValueError(f"give {name} with {option}, not with -p {name}.")
    return params
