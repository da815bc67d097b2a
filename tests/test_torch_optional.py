"""torch is an extra (``audiosift[torch]``): without it, ONNX exports, the VAD and wake words run
from the CLI, and what needs torch says so in one line, naming the extra."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from audiosift.models.onnx_export import export_model

ROOT = Path(__file__).resolve().parents[1]
# The CLI as a user without torch runs it: importing torch (or torchaudio) fails.
WITHOUT_TORCH = """
import sys
sys.modules["torch"] = None
sys.modules["torchaudio"] = None
from audiosift.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def cli_without_torch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", WITHOUT_TORCH, *map(str, args)], capture_output=True, text=True,
                          timeout=180)


def test_torch_is_not_a_core_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [spec.split("=")[0].split(">")[0].split("<")[0].strip().lower() for spec in project["dependencies"]]
    assert "torch" not in names and "silero-vad" not in names
    assert any(spec.startswith("torch") for spec in project["optional-dependencies"]["torch"])
    assert "torch" in project["optional-dependencies"]["all"][0]


@pytest.fixture(scope="module")
def exported_ast(ast_model, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("torch-free") / "ast-onnx"
    export_model(str(ast_model), folder)
    return folder


def test_an_export_classifies_without_torch(exported_ast, audio_dir):
    done = cli_without_torch("classify", audio_dir / "yes.wav", audio_dir / "noise.wav", "--model", exported_ast,
                             "--format", "json", "--top-k", "3")
    assert done.returncode == 0, done.stderr[-2000:]
    records = json.loads(done.stdout)
    reference = subprocess.run([sys.executable, "-m", "audiosift", "classify", str(audio_dir / "yes.wav"),
                                str(audio_dir / "noise.wav"), "--model", str(exported_ast), "--format", "json",
                                "--top-k", "3"], capture_output=True, text=True, timeout=180)
    assert reference.returncode == 0, reference.stderr[-2000:]
    for ours, theirs in zip(records, json.loads(reference.stdout), strict=True):
        assert [p["label"] for p in ours["predictions"]] == [p["label"] for p in theirs["predictions"]]
        assert np.allclose([p["score"] for p in ours["predictions"]], [p["score"] for p in theirs["predictions"]],
                           atol=1e-6)
    # The tiny model hears its input: the two clips' top scores lie far apart (>> the 1e-6 above).
    first, second = ([p["score"] for p in r["predictions"]] for r in records)
    assert np.abs(np.subtract(first, second)).max() > 1e-2


def test_vad_and_wake_words_run_without_torch(audio_dir):
    done = cli_without_torch("classify", audio_dir / "sentence.wav", "--model", "speech", "--format", "json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)[0]["predictions"][0]["label"] == "speech"
    done = cli_without_torch("classify", audio_dir / "sentence.wav", "--model", "wake-word", "--format", "json")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout) == []  # detections: none in a sentence without a wake word


@pytest.mark.parametrize("args, says", [
    (["--model", "{ast}"], "pip install 'audiosift[torch]'"),
    (["--model", "{ast}", "--device", "cuda"], "torch is not installed"),
])
def test_what_needs_torch_says_so_in_one_line(args, says, ast_model, audio_dir):
    args = [a.format(ast=ast_model) for a in args]
    done = cli_without_torch("classify", audio_dir / "yes.wav", *args)
    assert done.returncode in (1, 2), (done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    assert says in done.stderr and done.stderr.strip().count("\n") == 0, done.stderr


def test_train_keyword_without_torch_fails_before_making_data(tmp_path):
    done = cli_without_torch("train-keyword", "hey computer", "--output", tmp_path / "kw")
    assert done.returncode in (1, 2) and "Traceback" not in done.stderr
    assert "audiosift[torch]" in done.stderr and not (tmp_path / "kw").exists()
