"""The ``forecast-flows`` command line.

Errors a user can cause print one line and exit non-zero (2: nothing could run; 1: some segments
failed, the rest were written). ``--debug`` shows the traceback.
"""

from __future__ import annotations

import os
import sys
import warnings

from flows.cli.endpoint import cmd_health, cmd_predict, cmd_serve, cmd_server, cmd_smoke
from flows.cli.exits import EXIT_BAD_INPUT, EXIT_OK, EXIT_SEGMENTS_FAILED
from flows.cli.operations import (
    cmd_cleanup,
    cmd_compare_actuals,
    cmd_monitor,
    cmd_predict_batch,
)
from flows.cli.parser import build_parser
from flows.cli.training import cmd_demo, cmd_forecast, cmd_train, cmd_validate
from forecasting.system.runtime import pin_native_threads

COMMANDS = {"forecast": cmd_forecast, "validate": cmd_validate, "train": cmd_train, "demo": cmd_demo,
            "compare-actuals": cmd_compare_actuals, "predict-batch": cmd_predict_batch, "cleanup": cmd_cleanup, "monitor": cmd_monitor,
            "serve": cmd_serve, "server": cmd_server, "predict": cmd_predict, "health": cmd_health, "smoke": cmd_smoke}


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (see :mod:`flows.cli.exits`)."""
    args = build_parser().parse_args(argv)
    if not args.debug:  # library deprecation notes are for us, not for a user's screen (--debug shows them)
        warnings.simplefilter("ignore")
        os.environ.setdefault("PYTHONWARNINGS", "ignore")  # the worker processes too
    pin_native_threads()
    try:
        return COMMANDS[args.command](args)
    except Exception as exc:
        if args.debug:
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return EXIT_BAD_INPUT


def one_line(exc: Exception) -> str:
    """A user-facing one-line message, including for pydantic's multi-line validation errors."""
    from pydantic import ValidationError

    from forecasting.errors import ForecastingError

    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        return f"invalid setting {where}: {message} (got {first.get('input')!r})"
    if isinstance(exc, ForecastingError):
        return str(exc).replace("\n", " ")
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} (rerun with --debug for the traceback)"


__all__ = ["EXIT_BAD_INPUT", "EXIT_OK", "EXIT_SEGMENTS_FAILED", "build_parser", "main", "one_line"]

if __name__ == "__main__":
    sys.exit(main())
