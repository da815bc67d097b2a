"""`audiosift classify` on long recordings: --window/--hop/--merge/--min-score, speech segments,
speech-only classification and the event formats."""

from __future__ import annotations

import csv
import io
import json

import numpy as np
import pytest

import recordings
from audiosift.cli.main import main

PARTS = [("silence", 0.7), ("speech", "turn on the lights"), ("noise", 1.0), ("speech", "yes"), ("tone", 1.0),
         ("speech", ("bonjour tout le monde", "fr")), ("silence", 0.8)]


@pytest.fixture(scope="module")
def long_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("long_cli")
    samples, placed = recordings.compose(PARTS, folder)
    return recordings.write(folder / "long.wav", samples), len(samples) / 16000, placed


def jsonl(text):
    return [json.loads(line) for line in text.splitlines()]


def test_windows_with_timestamps(long_file, ast_model, capsys):
    path, duration, _ = long_file
    code = main(["classify", "-m", str(ast_model), "--window", "1", "--hop", "0.5", "-k", "2", "-f", "jsonl",
                 str(path)])
    assert code == 0
    records = jsonl(capsys.readouterr().out)
    assert [r["start"] for r in records] == [k * 0.5 for k in range(len(records))]
    assert records[-1]["end"] == pytest.approx(duration, abs=1e-4)
    assert all(r["path"] == str(path) and len(r["predictions"]) == 2 for r in records)


def test_merged_events_as_csv_and_the_default_format(long_file, ast_model, capsys):
    path, duration, _ = long_file
    assert main(["classify", "-m", str(ast_model), "--merge", "--min-score", "0", "-f", "events-csv", str(path)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows and list(rows[0]) == ["path", "start", "end", "label", "score"]
    starts = [float(r["start"]) for r in rows]
    assert starts == sorted(starts) and starts[0] == 0.0 and float(rows[-1]["end"]) == pytest.approx(duration, abs=1e-3)
    for before, after in zip(rows, rows[1:]):
        assert before["label"] != after["label"]  # consecutive windows with one label were merged
    assert main(["classify", "-m", str(ast_model), "--merge", "--min-score", "0", str(path)]) == 0
    assert "s]" in capsys.readouterr().out  # the table shows [start-end s]


def test_events_keep_only_likely_labels_by_default(long_file, ast_model, capsys):
    path, _, _ = long_file
    assert main(["classify", "-m", str(ast_model), "--window", "1", "--min-score", "0", "-f", "events-csv",
                 str(path)]) == 0
    every = [float(r["score"]) for r in csv.DictReader(io.StringIO(capsys.readouterr().out))]
    assert main(["classify", "-m", str(ast_model), "--window", "1", "-f", "events-csv", str(path)]) == 0
    kept = [float(r["score"]) for r in csv.DictReader(io.StringIO(capsys.readouterr().out))]
    assert kept == [score for score in every if score >= 0.5] and len(kept) < len(every)  # default 0.5
    assert main(["classify", "-m", str(ast_model), "--window", "1", "-k", "1", "-f", "jsonl", str(path)]) == 0
    assert len(jsonl(capsys.readouterr().out)) == len(every)  # window records keep every window


def test_min_score_drops_windows(long_file, ast_model, capsys):
    path, _, _ = long_file
    assert main(["classify", "-m", str(ast_model), "--window", "1", "-f", "events-csv", "--min-score", "0",
                 str(path)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    cut = sorted(float(r["score"]) for r in rows)[len(rows) // 2]
    assert main(["classify", "-m", str(ast_model), "--window", "1", "-f", "events-csv", "--min-score", str(cut),
                 str(path)]) == 0
    kept = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert 0 < len(kept) < len(rows) and all(float(r["score"]) >= cut - 1e-6 for r in kept)


def test_speech_segments_as_an_audacity_label_track(long_file, tmp_path, capsys):
    path, _, placed = long_file
    out = tmp_path / "labels.txt"
    assert main(["classify", "--model", "speech", "--segments", "-f", "audacity", "-o", str(out), str(path)]) == 0
    lines = [line.split("\t") for line in out.read_text().splitlines()]
    speech = [p for p in placed if p.kind == "speech"]
    assert len(lines) == len(speech)
    for (start, end, label), part in zip(lines, speech):
        assert label == "speech"
        assert abs(float(start) - part.start) <= 0.25 and abs(float(end) - part.end) <= 0.25


def test_raven_tables_one_per_recording(long_file, ast_model, tmp_path, capsys, cli_error):
    path, _, _ = long_file
    other = tmp_path / "other.wav"
    other.write_bytes(path.read_bytes())
    cli_error(["classify", "-m", ast_model, "--merge", "-f", "audacity", path, other], "--output FOLDER")
    folder = tmp_path / "tables"
    folder.mkdir()
    assert main(["classify", "-m", str(ast_model), "--merge", "--min-score", "0", "-f", "raven", "-o", str(folder),
                 str(path), str(other)]) == 0
    tables = sorted(p.name for p in folder.iterdir())
    assert tables == ["long.selections.txt", "other.selections.txt"]
    header = (folder / "long.selections.txt").read_text().splitlines()[0].split("\t")
    assert header[:5] == ["Selection", "View", "Channel", "Begin Time (s)", "End Time (s)"]
    assert header[-2:] == ["Begin File", "File Offset (s)"]
    capsys.readouterr()

    # a rerun into the folder skips the recordings already done (tables are written whole or not at all)
    (folder / "other.selections.txt").unlink()
    done_before = (folder / "long.selections.txt").stat().st_mtime_ns
    assert main(["classify", "-m", str(ast_model), "--merge", "--min-score", "0", "-f", "raven", "-o", str(folder),
                 str(path), str(other)]) == 0
    assert "skipped 1 recording(s)" in capsys.readouterr().err
    assert (folder / "long.selections.txt").stat().st_mtime_ns == done_before
    assert (folder / "other.selections.txt").read_text() == (folder / "long.selections.txt").read_text() \
        .replace("long.wav", "other.wav")
    assert main(["classify", "-m", str(ast_model), "--merge", "--min-score", "0", "-f", "raven", "--overwrite",
                 "-o", str(folder), str(path)]) == 0
    assert (folder / "long.selections.txt").stat().st_mtime_ns != done_before

    # many recordings, one file: one table, each selection naming its file
    combined = tmp_path / "all.selections.txt"
    assert main(["classify", "-m", str(ast_model), "--merge", "--min-score", "0", "-f", "raven", "-o", str(combined),
                 str(path), str(other)]) == 0
    rows = list(csv.DictReader(io.StringIO(combined.read_text()), delimiter="\t"))
    assert {r["Begin File"] for r in rows} == {"long.wav", "other.wav"}
    assert [int(r["Selection"]) for r in rows] == list(range(1, len(rows) + 1))
    # Begin Time counts through the sequence of files (as Raven and BirdNET's combined tables do)
    duration = long_file[1]
    for row in rows:
        offset = 0.0 if row["Begin File"] == "long.wav" else duration
        assert float(row["Begin Time (s)"]) == pytest.approx(float(row["File Offset (s)"]) + offset, abs=1e-5)
    assert any(r["Begin File"] == "other.wav" for r in rows) and float(rows[-1]["Begin Time (s)"]) > duration
    single = tmp_path / "single"
    single.mkdir()
    assert main(["classify", "-m", str(ast_model), "--merge", "-f", "audacity", "-o", str(single), str(path)]) == 0
    assert [p.name for p in single.iterdir()] == ["long.labels.txt"]


def test_speech_only_language_style_output(long_file, whisper_model, capsys):
    path, duration, placed = long_file
    assert main(["classify", "-m", str(whisper_model), "--speech-only", "-k", "3", "-f", "jsonl", str(path)]) == 0
    records = jsonl(capsys.readouterr().out)
    segments, overall = records[:-1], records[-1]
    assert len(segments) == sum(p.kind == "speech" for p in placed)
    assert overall["overall"] is True and len(overall["predictions"]) == 3
    assert overall["speech_seconds"] == pytest.approx(sum(s["end"] - s["start"] for s in segments), abs=1e-3)
    assert overall["duration_seconds"] == pytest.approx(duration, abs=1e-3)
    assert 0 < overall["speech_seconds"] < duration
    best = overall["predictions"][0]["label"]
    # the overall answer is marked as such in every format
    assert main(["classify", "-m", str(whisper_model), "--speech-only", "-k", "3", str(path)]) == 0
    assert "[overall:" in capsys.readouterr().out.splitlines()[-4]
    assert main(["classify", "-m", str(whisper_model), "--speech-only", "-k", "3", "-f", "csv", str(path)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["overall"] for r in rows[-3:]] == ["true"] * 3 and not any(r["overall"] for r in rows[:-3])
    assert main(["classify", "-m", str(whisper_model), "--speech-only", "--min-score", "0", "-f", "events-csv",
                 str(path)]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert rows[-1]["label"] == f"{best} (overall)" and float(rows[-1]["start"]) == 0.0
    assert float(rows[-1]["end"]) == pytest.approx(duration, abs=1e-3)
    assert not any("(overall)" in r["label"] for r in rows[:-1])


def test_segments_of_a_file_without_speech_say_so(tmp_path, capsys):
    quiet = recordings.write(tmp_path / "quiet.wav", np.zeros(16000, dtype=np.float32))
    assert main(["classify", "--model", "speech", "--segments", "-f", "jsonl", str(quiet)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and f"{quiet}: no speech found" in captured.err


def test_bad_files_are_reported_and_the_others_go_on(long_file, ast_model, tmp_path, capsys):
    path, _, _ = long_file
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF not really a wave file")
    code = main(["classify", "-m", str(ast_model), "--window", "1", "-f", "jsonl", str(broken), str(path)])
    assert code == 1
    records = jsonl(capsys.readouterr().out)
    assert records[0]["path"] == str(broken) and "error" in records[0]
    assert len(records) > 2 and all("predictions" in r for r in records[1:])
    code = main(["classify", "-m", str(ast_model), "--merge", "--min-score", "0", "-f", "events-csv", str(broken),
                 str(path)])
    captured = capsys.readouterr()
    assert code == 1 and "broken.wav: error" in captured.err and str(path) in captured.out


def test_segments_need_the_speech_model(long_file, ast_model, cli_error):
    path, _, _ = long_file
    cli_error(["classify", "-m", ast_model, "--segments", path], "--model speech")


def test_hop_longer_than_window_is_refused(long_file, ast_model, cli_error):
    path, _, _ = long_file
    cli_error(["classify", "-m", ast_model, "--window", "1", "--hop", "2", path], "hop")


def test_stereo_44k_m4a_long_file(ast_model, long_file, tmp_path, capsys):
    """Other containers go through the same streaming decoder (PyAV for m4a)."""
    import subprocess

    path, duration, _ = long_file
    m4a = tmp_path / "long.m4a"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(path), "-ar", "44100", "-ac", "2", "-c:a", "aac",
                    str(m4a)], check=True)
    assert main(["classify", "-m", str(ast_model), "--window", "1", "--hop", "1", "-f", "jsonl", str(m4a)]) == 0
    records = jsonl(capsys.readouterr().out)
    assert len(records) == int(np.ceil(duration))
