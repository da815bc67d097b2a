"""Rewrite docs/cli.md from the CLI's own --help (run: make docs)."""

from pathlib import Path

from audiosift.cli.reference import render_cli_reference

target = Path(__file__).resolve().parent.parent / "docs" / "cli.md"
target.write_text(render_cli_reference())
print(f"wrote {target}")
