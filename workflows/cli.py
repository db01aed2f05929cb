"""The ``iongrad`` command line. The only place that touches argv and exit codes.

Every subcommand lives in its own module and registers through :data:`COMMANDS`
(``name -> (module, add_arguments, run)``). Input errors (any ``IongradError``
or ``ValueError`` raised while validating user input) become one line on stderr
and exit code 2, with no traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import threading

from iongrad import __version__

# name -> (module path, help). The module provides add_arguments(parser) and run(args) -> int.
COMMANDS: dict[str, tuple[str, str]] = {
    "fit": ("iongrad.workflows.fit", "fit a model to a dataset with NUTS"),
    "sensitivity": ("iongrad.workflows.sensitivity", "global sensitivity analysis (SALib)"),
    "batch": ("iongrad.workflows.batch", "run many configs locally or on a Dask cluster"),
    "compare": ("iongrad.workflows.compare", "compare fits of the same data by PSIS-LOO"),
    "report": ("iongrad.workflows.report", "write the HTML/Markdown report of a run folder"),
    "demo": ("iongrad.workflows.demo", "multi-cell fit + energy sensitivity on shipped data"),
}


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, exit 2
        sys.stderr.write(f"iongrad: error: {message}\n")
        raise SystemExit(2)


def _version() -> str:
    return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="iongrad",
        description="Inference and sensitivity analysis of how cells maintain their ion "
                    "gradients. Start with 'iongrad demo'.")
    parser.add_argument("--version", action="version", version=f"iongrad {_version()}",
                        help="print the installed iongrad version and exit")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, (module, help_) in COMMANDS.items():
        sp = sub.add_parser(name, help=help_)
        sp.set_defaults(_module=module)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            sp.set_defaults(_missing=True)
            continue
        mod.add_arguments(sp)
    return parser


def _install_signal_handlers() -> None:
    """SIGINT and SIGTERM: record the interruption, then raise ``KeyboardInterrupt``.

    The record lets code that catches ``KeyboardInterrupt`` on the user's behalf (PyMC
    returns the draws taken so far) turn the result back into an interruption.
    """
    import signal

    from iongrad.infer.interrupts import clear_interrupted, mark_interrupted

    if threading.current_thread() is not threading.main_thread():
        return
    clear_interrupted()

    def handler(signum, frame):
        mark_interrupted()
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, handler)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    """Run the ``iongrad`` command line; return the exit code.

    0 success, 1 a failure while running (e.g. disk full, a sampler that came back
    short), 2 bad input or usage (one line on stderr), 130 interrupted (SIGINT or
    SIGTERM; nothing is left at ``--out``).
    """
    from iongrad.infer.interrupts import IncompletePosteriorError
    from iongrad.models.errors import IongradError

    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_missing", False):
        sys.stderr.write(f"iongrad: error: '{args.command}' is not available in this build\n")
        return 2
    import signal

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.getsignal(sig)
    _install_signal_handlers()
    try:
        mod = importlib.import_module(args._module)
        return int(mod.run(args) or 0)
    except (IongradError, FileNotFoundError, IsADirectoryError, PermissionError,
            UnicodeDecodeError) as exc:
        sys.stderr.write(f"iongrad {args.command}: error: {_one_line(exc)}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"iongrad {args.command}: interrupted\n")
        return 130
    except (OSError, IncompletePosteriorError) as exc:  # a failure while running
        sys.stderr.write(f"iongrad {args.command}: failed: {_one_line(exc)}\n")
        return 1
    finally:
        if threading.current_thread() is threading.main_thread():
            for sig, handler in previous.items():
                if handler is not None:
                    signal.signal(sig, handler)


if __name__ == "__main__":
    raise SystemExit(main())
