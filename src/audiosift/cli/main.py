"""The ``audiosift`` command: a thin layer over the library, one module per subcommand."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import warnings

from audiosift import __version__
from audiosift.errors import AudiosiftError

# Each module has register(subparsers); the order here is the order in --help.
SUBCOMMAND_MODULES = [
    "classify", "zero_shot", "embed", "evaluate", "serve", "listen", "models", "demo",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audiosift",
        description="Classify audio with pre-trained models: keywords, spoken intent, language ID, "
                    "speech detection, and zero-shot labels you type.")
    parser.add_argument("--version", action="version", version=f"audiosift {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        if importlib.util.find_spec(f"audiosift.cli.{name}") is not None:
            importlib.import_module(f"audiosift.cli.{name}").register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    from audiosift.cli.common import quiet_libraries

    quiet_libraries()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "run", None):
        parser.print_help()
        return 2
    with warnings.catch_warnings():  # restored on return, so an in-process caller keeps its own settings
        warnings.showwarning = _one_line_warning  # no file:line noise for users
        # transformers' AST extractor warns at every load about empty mel filters in the model's own config.
        warnings.filterwarnings("ignore", message="At least one mel filter has all zero values")
        try:
            return int(args.run(args) or 0)
        except AudiosiftError as error:
            print(f"audiosift {args.command}: error: {error}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print(f"audiosift {args.command}: interrupted", file=sys.stderr)
            return 130


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(f"audiosift: warning: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
