"""The CLI reference (docs/cli.md), generated from the parsers' own ``--help``.

``python scripts/make_cli_reference.py`` rewrites the file; a test fails when it is out of date.
"""

from __future__ import annotations

import os
from unittest import mock

# argparse wraps help text to the terminal width; a fixed width keeps the file stable everywhere.
HELP_COLUMNS = "100"


def render_cli_reference() -> str:
    from audiosift.cli.main import build_parser

    with mock.patch.dict(os.environ, {"COLUMNS": HELP_COLUMNS}):
        parser = build_parser()
        sections = ["# CLI reference", "",
                    "Generated from `--help` by `make docs` (scripts/make_cli_reference.py); "
                    "a test keeps it in sync.", "", "## audiosift", "", "```text", parser.format_help().rstrip(),
                    "```", ""]
        subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        for name, subparser in subparsers.choices.items():
            sections += [f"## audiosift {name}", "", "```text", subparser.format_help().rstrip(), "```", ""]
    return "\n".join(sections)
