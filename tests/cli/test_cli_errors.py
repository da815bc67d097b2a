"""How failures reach a CLI user: one line, the right exit code, checks before the model loads,
and outputs that never clobber an input or a good earlier file."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

import audiosift
from audiosift.cli.common import cli_wording
from audiosift.cli.main import main


@pytest.fixture
def clip(tmp_path):
    path = tmp_path / "clip.wav"
    sf.write(path, 0.3 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000).astype(np.float32), 16000)
    return path


@pytest.fixture
def no_model_load(monkeypatch):
    """Any model load fails the test: the error must be found before one."""
    def refuse(*args, **kwargs):
        raise AssertionError("the model was loaded before the usage error was found")

    monkeypatch.setattr(audiosift, "load", refuse)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_zero_shot_model_without_labels_is_one_line_naming_the_flag(clap_model, clip):
    done = subprocess.run([sys.executable, "-m", "audiosift", "classify", "-m", str(clap_model), str(clip)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("audiosift: error: "), done.stderr
    assert "--labels" in done.stderr and "candidate_labels" not in done.stderr


def test_zero_shot_windows_without_labels_name_the_flag(clap_model, clip, cli_error):
    line = cli_error(["classify", "-m", clap_model, "--window", "0.5", clip], "zero-shot model.*--labels")
    assert "candidate_labels" not in line


def test_zero_shot_speech_only_is_a_usage_error(clap_model, clip, capsys, no_model_load):
    # zero-shot does not offer the speech-model options at all: argparse refuses them (exit 2)
    for option in ("--speech-only", "--segments"):
        with pytest.raises(SystemExit) as usage:
            main(["zero-shot", "-m", str(clap_model), "-l", "dog,rain", option, str(clip)])
        assert usage.value.code == 2 and f"unrecognized arguments: {option}" in capsys.readouterr().err


@pytest.mark.parametrize("where, pattern", [
    ("missing/out.json", "folder of --output .* does not exist"),
    (".", r"--output .* is a folder"),
])
def test_output_paths_are_checked_before_the_model_loads(clip, cli_error, no_model_load, where, pattern):
    cli_error(["classify", "-f", "json", "-o", clip.parent / where, clip], pattern)


def test_output_onto_an_input_is_refused_and_the_input_kept(clip, tmp_path, cli_error, no_model_load):
    before = clip.read_bytes()
    link = tmp_path / "link.json"
    link.symlink_to(clip)
    cli_error(["classify", "-o", clip, clip], "is the input")
    cli_error(["classify", "-f", "json", "-o", link, clip], "is the input")
    cli_error(["classify", "-o", clip, tmp_path], "is the input")  # the input found inside a folder
    cli_error(["zero-shot", "-l", "dog", "-o", clip, clip], "is the input")
    cli_error(["classify", "--window", "0.5", "-o", clip, clip], "is the input")
    cli_error(["embed", "-o", tmp_path / "emb.npy", clip, tmp_path / "emb.paths.txt"], "is the input")
    cli_error(["evaluate", "-d", tmp_path, "-o", clip], "is a file")
    assert clip.read_bytes() == before


def test_cuda_without_cuda_is_a_usage_error_before_loading(clip, cli_error, no_model_load, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    cli_error(["classify", "--device", "cuda", clip], "--device cuda.*CUDA")


def test_two_recordings_with_one_name_would_share_a_table(tmp_path, clip, cli_error, no_model_load):
    (tmp_path / "a").mkdir()
    other = tmp_path / "a" / "clip.wav"
    other.write_bytes(clip.read_bytes())
    out = tmp_path / "tables"
    out.mkdir()
    cli_error(["classify", "-f", "audacity", "-o", out, clip, other], "would both be written")


def test_empty_folders_warn_and_no_inputs_at_all_is_a_usage_error(tmp_path, clip, ast_model, capsys, cli_error):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["classify", "-m", str(ast_model), "-f", "jsonl", str(empty), str(clip)]) == 0
    captured = capsys.readouterr()
    assert f"audiosift: warning: folder {empty} has no audio files" in captured.err
    assert [json.loads(line)["path"] for line in captured.out.splitlines()] == [str(clip)]
    cli_error(["classify", "-m", ast_model, empty], "no audio files found")


def test_unreadable_folders_are_reported(tmp_path, clip, ast_model, monkeypatch, capsys, cli_error):
    locked = tmp_path / "locked"
    locked.mkdir()
    (locked / "hidden.wav").write_bytes(clip.read_bytes())
    real_scandir = os.scandir

    def scandir(path="."):  # tests run as root, where chmod stops nothing: deny the listing here
        if os.fspath(path) == str(locked):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    assert main(["classify", "-m", str(ast_model), "-f", "jsonl", str(locked), str(clip)]) == 0
    err = capsys.readouterr().err
    assert f"audiosift: warning: cannot read folder {locked}" in err and "no audio files" not in err
    cli_error(["classify", "-m", ast_model, locked], "no audio files found")


def test_interrupted_json_keeps_the_earlier_file(clip, tmp_path, ast_model, capsys, monkeypatch):
    out = tmp_path / "results.json"
    out.write_text('[{"path": "earlier", "predictions": []}]\n')
    before = out.read_text()

    def interrupted(result):
        raise KeyboardInterrupt

    monkeypatch.setattr("audiosift.cli.classify.result_record", interrupted)
    assert main(["classify", "-m", str(ast_model), "-f", "json", "-o", str(out), str(clip), str(clip)]) == 130
    assert "audiosift: interrupted" in capsys.readouterr().err
    assert out.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.wav", "results.json"]  # no temporary left


@pytest.mark.parametrize("fmt", ["json", "audacity"])
def test_interrupted_windowed_output_keeps_the_earlier_file(clip, tmp_path, ast_model, monkeypatch, fmt):
    out = tmp_path / "windows.txt"
    out.write_text("earlier\n")

    def interrupted(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr("audiosift.cli.windowed._file_records", interrupted)
    assert main(["classify", "-m", str(ast_model), "--window", "0.5", "-f", fmt, "-o", str(out), str(clip)]) == 130
    assert out.read_text() == "earlier\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.wav", "windows.txt"]


def test_a_bug_is_one_line_and_the_traceback_only_on_request(clip, ast_model, capsys, monkeypatch):
    def broken(result):
        raise RuntimeError("boom")

    monkeypatch.setattr("audiosift.cli.classify.result_record", broken)
    assert main(["classify", "-m", str(ast_model), str(clip)]) == 3
    err = capsys.readouterr().err
    assert "audiosift: error: RuntimeError: boom" in err and "this is a bug, please report it" in err
    assert "Traceback" not in err
    monkeypatch.setenv("AUDIOSIFT_DEBUG", "1")
    assert main(["classify", "-m", str(ast_model), str(clip)]) == 3
    assert "Traceback" in capsys.readouterr().err


def test_new_output_files_follow_the_umask(clip, tmp_path, ast_model, umask_022):
    for fmt in ["json", "jsonl"]:
        out = tmp_path / f"out.{fmt}"
        assert main(["classify", "-m", str(ast_model), "-f", fmt, "-o", str(out), str(clip)]) == 0
        assert out.stat().st_mode & 0o777 == 0o644, fmt
    tables = tmp_path / "tables"
    tables.mkdir()
    assert main(["classify", "-m", str(ast_model), "--merge", "-f", "audacity", "-o", str(tables), str(clip)]) == 0
    assert (tables / "clip.labels.txt").stat().st_mode & 0o777 == 0o644
    os.umask(0o027)
    out = tmp_path / "private.json"
    assert main(["classify", "-m", str(ast_model), "-f", "json", "-o", str(out), str(clip)]) == 0
    assert out.stat().st_mode & 0o777 == 0o640
    os.chmod(out, 0o604)  # a file replaced keeps its own mode, as a plain open() would
    assert main(["classify", "-m", str(ast_model), "-f", "json", "-o", str(out), str(clip)]) == 0
    assert out.stat().st_mode & 0o777 == 0o604 and json.loads(out.read_text())[0]["path"] == str(clip)


def test_embed_outputs_follow_the_umask(clip, tmp_path, clap_model, umask_022):
    out = tmp_path / "emb.npy"
    assert main(["embed", "-m", str(clap_model), str(clip), "-o", str(out)]) == 0
    assert np.load(out).shape[0] == 1
    assert out.stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "emb.paths.txt").stat().st_mode & 0o777 == 0o644


def test_library_parameter_names_become_cli_flags():
    assert cli_wording("'clap' is a zero-shot model: pass candidate_labels=[...]") == \
        "'clap' is a zero-shot model: give --labels ..."
    assert cli_wording("hypothesis_template {} is bad; top_k must be positive") == \
        "--template {} is bad; --top-k must be positive"


def test_exit_codes_are_in_the_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "exit codes:" in out and "130" in out and "some input failed" in out
