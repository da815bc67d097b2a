"""The ``audiosift`` command: a thin layer over the library, one module per subcommand."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
import traceback
import warnings

from audiosift import __version__
from audiosift.errors import AudioError, AudiosiftError

EXIT_CODES = """exit codes:
  0    success
  1    some input failed (a file could not be read or classified; the others were done)
  2    usage error, or the command could not run at all (model not found, output not writable, ...)
  3    internal error (a bug: please report it; AUDIOSIFT_DEBUG=1 shows the traceback)
  130  interrupted (Ctrl-C)"""

# Each module has register(subparsers); the order here is the order in --help.
SUBCOMMAND_MODULES = [
    "classify", "zero_shot", "embed", "evaluate", "compare", "serve", "listen", "train_keyword", "evaluate_keyword",
    "export", "models", "demo",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audiosift",
        description="Classify audio with pre-trained models: keywords, spoken intent, language ID, "
                    "speech detection, and zero-shot labels you type.",
        epilog=EXIT_CODES, formatter_class=_KeepEpilogLines)
    parser.add_argument("--version", action="version", version=f"audiosift {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        if importlib.util.find_spec(f"audiosift.cli.{name}") is not None:
            importlib.import_module(f"audiosift.cli.{name}").register(subparsers)
    return parser


class _KeepEpilogLines(argparse.HelpFormatter):
    """Wraps the description as usual but keeps the exit-code table's lines."""

    def _fill_text(self, text, width, indent):
        if text == EXIT_CODES:
            return "".join(indent + line + "\n" for line in text.splitlines())
        return super()._fill_text(text, width, indent)


def main(argv: list[str] | None = None) -> int:
    from audiosift.cli.common import quiet_libraries, verbosity

    quiet_libraries()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    args.argv = [str(a) for a in (argv if argv is not None else sys.argv[1:])]  # for reports' provenance
    args.verbose = getattr(args, "verbose", False)  # commands without a model have no --verbose
    with warnings.catch_warnings(), verbosity(args.verbose):  # restored on return, for in-process callers
        warnings.showwarning = _one_line_warning  # no file:line noise for users
        if not args.verbose:  # the load paths' noise (quiet.NOISY_WARNINGS) also when it comes later
            from audiosift.models.quiet import NOISY_WARNINGS

            for message in NOISY_WARNINGS:
                warnings.filterwarnings("ignore", message=message)
        return run_guarded(args)


def run_guarded(args) -> int:
    """Run the subcommand; whatever goes wrong reaches the user as one line and an exit code."""
    try:
        return int(args.run(args) or 0)
    except AudioError as error:  # the one input of a one-input command (e.g. listen --input) failed
        return _fail(error, 1)
    except AudiosiftError as error:
        return _fail(error, 2)
    except KeyboardInterrupt:
        print("audiosift: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exit_:
        if isinstance(exit_.code, str):  # raise SystemExit("message") in a subcommand: a usage error
            print(exit_.code if exit_.code.startswith("audiosift") else f"audiosift: error: {exit_.code}",
                  file=sys.stderr)
            return 2
        raise
    except BrokenPipeError:  # e.g. `| head`: the reader has gone; nothing more to say
        try:  # point stdout at /dev/null so the interpreter's final flush does not fail again
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # no real file descriptor (an in-process caller's stream)
            pass
        return 141  # what a shell reports for a command stopped by SIGPIPE
    except OSError as error:  # a disk full or a file gone mid-run: the environment, not a bug
        return _fail(error, 2)
    except Exception as error:  # noqa: BLE001 - the last resort: a bug, still one line
        print(f"audiosift: error: {type(error).__name__}: {error}", file=sys.stderr)
        if os.environ.get("AUDIOSIFT_DEBUG") == "1":
            traceback.print_exc()
        else:
            print("audiosift: this is a bug, please report it (AUDIOSIFT_DEBUG=1 shows the traceback)",
                  file=sys.stderr)
        return 3


def _fail(error: BaseException, code: int) -> int:
    from audiosift.cli.common import cli_wording

    print(f"audiosift: error: {cli_wording(error)}", file=sys.stderr)
    if os.environ.get("AUDIOSIFT_DEBUG") == "1":
        traceback.print_exc()
    return code


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"audiosift: warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
