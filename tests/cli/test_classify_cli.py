"""`audiosift classify` and friends, run as a user runs them (a subprocess) and in-process."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys

import pytest

from audiosift.cli.main import main


def run_cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "audiosift", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


@pytest.fixture(scope="module")
def clip_tree(audio_dir, tmp_path_factory):
    """A folder tree with audio in sub-folders, a non-audio file, and one broken 'audio' file."""
    root = tmp_path_factory.mktemp("tree")
    (root / "sub" / "deeper").mkdir(parents=True)
    shutil.copy(audio_dir / "yes.wav", root / "a.wav")
    shutil.copy(audio_dir / "yes.webm", root / "sub" / "b.webm")
    shutil.copy(audio_dir / "tone.wav", root / "sub" / "deeper" / "c.wav")
    (root / "notes.txt").write_text("not audio, and not picked up from a folder")
    (root / "sub" / "broken.mp3").write_bytes(b"ID3 this is not an mp3")
    return root


def test_jsonl_records_and_exit_code_with_a_bad_file(clip_tree, ast_model):
    done = run_cli("classify", "--model", ast_model, "--format", "jsonl", "--top-k", "3", clip_tree)
    assert done.returncode == 1, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    paths = [r["path"] for r in records]
    assert paths == sorted(str(p) for p in [clip_tree / "a.wav", clip_tree / "sub" / "b.webm",
                                            clip_tree / "sub" / "deeper" / "c.wav", clip_tree / "sub" / "broken.mp3"])
    by_name = {r["path"].rsplit("/", 1)[-1]: r for r in records}
    assert "could not decode" in by_name["broken.mp3"]["error"]
    for name in ["a.wav", "b.webm", "c.wav"]:
        predictions = by_name[name]["predictions"]
        assert len(predictions) == 3 and set(predictions[0]) == {"label", "score"}


def test_all_good_files_exit_zero_and_json_output_file(audio_dir, ast_model, tmp_path):
    out = tmp_path / "out.json"
    code = main(["classify", "--model", str(ast_model), "--format", "json", "--output", str(out), "-k", "all",
                 str(audio_dir / "yes.wav"), str(audio_dir / "yes.m4a")])
    assert code == 0
    records = json.loads(out.read_text())
    assert len(records) == 2 and all(len(r["predictions"]) == 35 for r in records)


def test_csv_and_table_formats(audio_dir, ast_model, capsys):
    assert main(["classify", "-m", str(ast_model), "-f", "csv", "-k", "2", str(audio_dir / "yes.wav")]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["rank"] for r in rows] == ["1", "2"] and all(0 <= float(r["score"]) <= 1 for r in rows)
    assert main(["classify", "-m", str(ast_model), "-k", "2", str(audio_dir / "yes.wav")]) == 0
    table = capsys.readouterr().out
    assert table.startswith(str(audio_dir / "yes.wav")) and table.count("%") == 2


def test_missing_file_named_directly_is_reported_not_dropped(audio_dir, ast_model, tmp_path, capsys):
    missing = tmp_path / "nope.wav"
    assert main(["classify", "-m", str(ast_model), "-f", "jsonl", str(missing), str(audio_dir / "yes.wav")]) == 1
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert records[0] == {"path": str(missing), "error": f"{missing}: no such file"}
    assert "predictions" in records[1]


def test_unknown_model_is_one_clear_line(audio_dir):
    done = run_cli("classify", "--model", "not-a-model", audio_dir / "yes.wav")
    assert done.returncode == 2
    assert "unknown model 'not-a-model'" in done.stderr and "keywords" in done.stderr
    assert "Traceback" not in done.stderr


def test_models_lists_presets():
    done = run_cli("models", "--format", "json")
    names = [m["name"] for m in json.loads(done.stdout)]
    assert names[:5] == ["intent", "keywords", "language", "zero-shot", "speech"]
    assert {"wake-word", "wake-word-micro"} <= set(names)


def test_demo_falls_back_to_speech_offline(tmp_path):
    from pathlib import Path

    repo = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-m", "audiosift", "demo", "-f", "jsonl"], capture_output=True,
                          text=True, cwd=repo, timeout=300,
                          env={**__import__("os").environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "keywords model unavailable" in done.stderr and "offline 'speech' model" in done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    records = {r["path"].rsplit("/", 1)[-1]: r["predictions"][0]["label"] for r in lines if "path" in r}
    assert records["yes.wav"] == "speech" and records["sentence.wav"] == "speech"
    assert records["noise.wav"] == "no_speech" and records["tone-440hz.wav"] == "no_speech"
    # Then the wake-word part: a spoken recording, each wake word found once, while it was being said.
    said = [r for r in lines if r.get("demo") == "wake-word" and "said" in r]
    heard = [r for r in lines if r.get("demo") == "wake-word" and "label" in r]
    assert [r["said"] for r in said] == ["alexa", "hey jarvis"] == [r["label"] for r in heard]
    for truth, event in zip(said, heard):
        assert truth["start"] < event["end"] <= truth["end"] + 0.3
