"""Wake-word models through the command line: `listen --input` and `classify` report detections with
their times, on a synthetic recording that holds two wake words among other speech (real models)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from audiosift.cli.main import main
from wake_word_audio import RATE, phrase


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """"hey jarvis", then "turn on the lights", then "alexa" (espeak-ng), with where each phrase starts."""
    folder = tmp_path_factory.mktemp("wake-cli")
    parts = [phrase("hey jarvis", folder, "en-us"), phrase("turn on the lights", folder),
             phrase("alexa", folder)]
    starts = np.cumsum([0] + [len(p) for p in parts[:-1]]) / RATE
    path = folder / "recording.wav"
    sf.write(path, np.concatenate(parts), RATE)
    return path, starts, [len(p) / RATE for p in parts]


def run(capsys, *args):
    code = main([*map(str, args)])
    captured = capsys.readouterr()
    return code, [json.loads(line) for line in captured.out.splitlines() if line.startswith("{")], captured.err


def within(event, start, length):
    return start <= event["end"] <= start + length + 0.3


def test_listen_on_a_file_prints_each_wake_word_once_with_its_time(recording, capsys):
    path, starts, lengths = recording
    code, events, err = run(capsys, "listen", "--model", "wake-word", "--input", path, "--format", "jsonl")
    assert code == 0 and "2 detection(s)" in err
    assert [e["label"] for e in events] == ["hey jarvis", "alexa"]  # "turn on the lights" never fires
    assert within(events[0], starts[0], lengths[0]) and within(events[1], starts[2], lengths[2])
    assert all(set(e) == {"label", "score", "start", "end"} and e["score"] > 0.5 for e in events)


def test_listen_watches_only_the_labels_asked_for_at_their_threshold(recording, capsys):
    path, _, _ = recording
    code, events, _ = run(capsys, "listen", "-m", "wake-word", "--labels", "alexa", "-i", path, "-f", "jsonl")
    assert code == 0 and [e["label"] for e in events] == ["alexa"]
    import audiosift
    from audiosift.inference.detector import WakeWordDetector

    detector = WakeWordDetector(audiosift.load("wake-word"), return_scores=True)
    _, frames = detector(sf.read(path, dtype="float32")[0])
    peaks = dict(zip(frames.labels, frames.scores.max(axis=0)))
    weaker, stronger = sorted(["hey jarvis", "alexa"], key=peaks.get)
    between = (peaks[weaker] + peaks[stronger]) / 2
    assert peaks[stronger] - peaks[weaker] > 1e-3  # the recording separates them
    code, events, _ = run(capsys, "listen", "-m", "wake-word", "--threshold", f"{between:.6f}", "-i", path, "-f", "jsonl")
    assert code == 0 and [e["label"] for e in events] == [stronger]  # the stricter threshold drops the weaker


def test_classify_on_a_wake_word_model_reports_detections_with_times(recording, capsys, tmp_path):
    path, starts, lengths = recording
    code, records, _ = run(capsys, "classify", "-m", "wake-word-micro", "-f", "jsonl", path)
    assert code == 0
    labels = [r["predictions"][0]["label"] for r in records]
    assert "alexa" in labels and all(r["path"] == str(path) for r in records)
    alexa = records[labels.index("alexa")]
    assert within(alexa, starts[2], lengths[2])
    out = tmp_path / "events.csv"
    assert main(["classify", "-m", "wake-word", "-f", "events-csv", "-o", str(out), str(path)]) == 0
    assert "hey jarvis" in out.read_text() and "alexa" in out.read_text()


def test_classify_says_when_a_file_holds_no_wake_word(recording, capsys, tmp_path):
    path, _, _ = recording
    quiet = tmp_path / "sentence.wav"
    sf.write(quiet, phrase("turn on the lights", tmp_path), RATE)
    code, records, err = run(capsys, "classify", "-m", "wake-word", "--labels", "alexa", "-f", "jsonl", quiet, path)
    assert code == 0 and [r["predictions"][0]["label"] for r in records] == ["alexa"]  # the other file's
    assert f"{quiet}: none of alexa detected" in err and str(path) not in err


@pytest.mark.parametrize("command", ["listen", "classify"])
def test_window_options_on_a_wake_word_model_are_an_error_not_ignored(recording, capsys, command):
    path, _, _ = recording
    where = ["--input", path] if command == "listen" else [path]
    code, records, err = run(capsys, command, "-m", "wake-word", "--window", "2", "--hop", "0.5", *where)
    assert code == 2 and not records
    assert "--window and --hop do not apply to 'wake-word'" in err and "Traceback" not in err


def test_listen_thresholds_per_label_and_frame_scores(recording, capsys, tmp_path):
    path, _, _ = recording
    frames_file = tmp_path / "frames.jsonl"
    code, events, _ = run(capsys, "listen", "-m", "wake-word", "-i", path, "-f", "jsonl",
                          "--frame-scores", frames_file)
    assert code == 0 and [e["label"] for e in events] == ["hey jarvis", "alexa"]
    frames = [json.loads(line) for line in frames_file.read_text().splitlines()]
    times = [f["time"] for f in frames]
    assert len(frames) > 10 and times == sorted(times) and set(frames[0]["scores"]) >= {"alexa", "hey jarvis"}
    peak = {label: max(f["scores"][label] for f in frames) for label in ("alexa", "hey jarvis")}
    # the frame scores are the ones the detector fired on: each event's score is a frame's, at its end time
    for event in events:
        assert any(abs(f["time"] - event["end"]) < 1e-5 and abs(f["scores"][event["label"]] - event["score"]) < 1e-5
                   for f in frames)
    # per label: alexa above its peak can no longer fire; hey jarvis keeps its own (default) cutoff
    code, events, _ = run(capsys, "listen", "-m", "wake-word", "-i", path, "-f", "jsonl",
                          "--threshold", f"alexa={min(1.0, peak['alexa'] + 1e-3):.6f}")
    assert code == 0 and [e["label"] for e in events] == ["hey jarvis"]
    code, events, _ = run(capsys, "listen", "-m", "wake-word", "-i", path, "-f", "jsonl",
                          "--threshold", "0.999999", "--threshold", f"hey jarvis={peak['hey jarvis'] / 2:.6f}")
    assert code == 0 and [e["label"] for e in events] == ["hey jarvis"]  # a bare number: the others' default


def test_listen_with_vad_gating_keeps_the_spoken_wake_words(recording, capsys):
    path, starts, lengths = recording
    code, events, _ = run(capsys, "listen", "-m", "wake-word", "--vad", "-i", path, "-f", "jsonl")
    assert code == 0 and [e["label"] for e in events] == ["hey jarvis", "alexa"]
