"""docs/cli.md is generated from --help; this keeps it in sync (regenerate with `make docs`)."""

from pathlib import Path

from audiosift.cli.main import SUBCOMMAND_MODULES
from audiosift.cli.reference import render_cli_reference

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


def test_cli_reference_is_up_to_date():
    assert REFERENCE.read_text() == render_cli_reference(), "docs/cli.md is stale: run `make docs`"


def test_every_subcommand_is_documented():
    text = REFERENCE.read_text()
    for module in SUBCOMMAND_MODULES:
        assert f"## audiosift {module.replace('_', '-')}" in text
