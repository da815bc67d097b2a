"""Packaging promises: a light import, and the entry points users are told about."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ["torch", "transformers", "ray", "fastapi", "uvicorn", "sounddevice", "datasets", "matplotlib", "av"]


def test_import_audiosift_pulls_in_no_heavy_dependency():
    code = "import sys, audiosift; print(','.join(m for m in %r if m in sys.modules))" % HEAVY
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_cli_help_starts_without_heavy_dependencies():
    code = ("import sys; from audiosift.cli.main import build_parser; build_parser().format_help(); "
            "print(','.join(m for m in %r if m in sys.modules))" % HEAVY)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""


def test_console_script_and_module_entry_points():
    import shutil
    from pathlib import Path

    script = Path(sys.executable).parent / "audiosift"
    assert script.exists() or shutil.which("audiosift")
    for command in ([str(script), "--version"], [sys.executable, "-m", "audiosift", "--version"]):
        done = subprocess.run(command, capture_output=True, text=True)
        assert done.returncode == 0 and done.stdout.startswith("audiosift ")
