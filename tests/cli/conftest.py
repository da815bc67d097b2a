"""Helpers for the CLI tests: run ``main`` in-process and check how a failure reaches the user."""

from __future__ import annotations

import re

import pytest

from audiosift.cli.main import main


@pytest.fixture
def cli_error(capsys):
    """``cli_error(argv, pattern, code=2)``: main returns ``code`` and stderr holds exactly one
    ``audiosift: error:`` line matching ``pattern`` (warnings aside) and no traceback; returns it."""
    def run(argv, pattern, code=2):
        assert main([str(a) for a in argv]) == code
        err = capsys.readouterr().err
        assert "Traceback" not in err, err
        # In-process, transformers may already be imported with its own progress bars on: look at our lines.
        lines = [line for line in err.splitlines() if line.startswith("audiosift:")
                 and not line.startswith("audiosift: warning:")]
        assert len(lines) == 1 and lines[0].startswith("audiosift: error: "), err
        assert re.search(pattern, lines[0]), err
        return lines[0]

    return run
