"""`audiosift listen`: a file fed through the live path, and the microphone path with a stand-in sound
card (no microphone, no PortAudio device needed)."""

from __future__ import annotations

import builtins
import json
import subprocess
import sys
import types

import numpy as np
import pytest

import recordings
from audiosift.audio import load_audio
from audiosift.cli.main import main

LOW_THRESHOLD = "0.034"  # just above uniform (1/35 labels): the tiny random model fires often
PARTS = [("silence", 0.8), ("speech", "yes"), ("noise", 1.0), ("speech", "turn on the lights"), ("tone", 1.0),
         ("silence", 0.5), ("speech", "stop"), ("silence", 1.5)]


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    folder = tmp_path_factory.mktemp("listen")
    samples, _ = recordings.compose(PARTS, folder)
    return recordings.write(folder / "live.wav", samples)


def listen(capsys, *args):
    code = main(["listen", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err


def test_a_file_through_the_live_path(recording, ast_model, capsys):
    code, lines, err = listen(capsys, "-m", ast_model, "--threshold", LOW_THRESHOLD, "--input", recording, "-f", "jsonl")
    assert code == 0 and lines
    events = [json.loads(line) for line in lines]
    assert all(set(e) == {"label", "start", "end", "score"} for e in events)
    assert all(e["score"] >= float(LOW_THRESHOLD) for e in events)
    seen, classified = _window_counts(err)
    assert 0 < classified < seen  # the VAD kept the model off silence, noise and tones
    code, table_lines, _ = listen(capsys, "-m", ast_model, "--threshold", LOW_THRESHOLD, "--input", recording)
    assert len(table_lines) == len(events)
    assert table_lines[0].split()[2] == events[0]["label"]


def _window_counts(stderr: str) -> tuple[int, int]:
    words = stderr.split("classified ")[1].split()
    return int(words[2]), int(words[0])  # "classified X of Y windows"


def test_no_vad_classifies_every_window(recording, ast_model, capsys):
    code, _, err = listen(capsys, "-m", ast_model, "--threshold", LOW_THRESHOLD, "--input", recording, "--no-vad")
    seen, classified = _window_counts(err)
    assert code == 0 and seen == classified > 0


def test_labels_limit_what_fires(recording, ast_model, capsys, cli_error):
    _, lines, _ = listen(capsys, "-m", ast_model, "--threshold", LOW_THRESHOLD, "--input", recording, "-f", "jsonl",
                         "--no-vad")
    first = json.loads(lines[0])["label"]
    _, only, _ = listen(capsys, "-m", ast_model, "--threshold", LOW_THRESHOLD, "--input", recording, "-f", "jsonl",
                        "--no-vad", "--labels", first)
    assert only and {json.loads(line)["label"] for line in only} == {first}
    cli_error(["listen", "-m", ast_model, "--input", recording, "--labels", "nonsense"], "not among")
    cli_error(["listen", "-m", ast_model, "--realtime"], "--input")
    cli_error(["listen", "-m", ast_model, "--input", recording.parent / "missing.wav"], "--input .*no such file")


class FakeSoundCard:
    """Stands in for the sounddevice module: one input device that plays a recording into the callback."""

    class PortAudioError(Exception):
        pass

    def __init__(self, samples: np.ndarray, rate: int, fail_query: bool = False):
        self.samples, self.rate, self.fail_query = samples, rate, fail_query
        self.opened_with = None

    def query_devices(self, device=None, kind=None):
        if self.fail_query:
            raise self.PortAudioError("Error querying device -1")
        return {"name": "fake microphone", "default_samplerate": float(self.rate)}

    def InputStream(self, **settings):  # noqa: N802 - the name sounddevice uses
        card = self
        card.opened_with = settings

        class Stream:
            def __enter__(self):
                block = settings["blocksize"]
                for start in range(0, len(card.samples), block):
                    chunk = card.samples[start : start + block, None].astype(np.float32)
                    settings["callback"](chunk, len(chunk), None, None)
                settings["finished_callback"]()
                return self

            def __exit__(self, *exc):
                return False

        return Stream()


def use_sound_card(monkeypatch, card):
    module = types.ModuleType("sounddevice")
    for name in ("query_devices", "InputStream", "PortAudioError"):
        setattr(module, name, getattr(card, name))
    monkeypatch.setitem(sys.modules, "sounddevice", module)


def test_microphone_path_gives_the_same_events_as_the_file(recording, ast_model, capsys, monkeypatch):
    _, from_file, _ = listen(capsys, "-m", ast_model, "--threshold", LOW_THRESHOLD, "--input", recording, "-f", "jsonl")
    card = FakeSoundCard(load_audio(recording, 16000), 16000)
    use_sound_card(monkeypatch, card)
    code, from_mic, err = listen(capsys, "-m", ast_model, "--threshold", LOW_THRESHOLD, "-f", "jsonl")
    assert code == 0 and "listening on 'fake microphone'" in err
    assert card.opened_with["samplerate"] == 16000 and card.opened_with["channels"] == 1
    assert from_mic == from_file  # chunking by the sound card changes nothing


def test_microphone_at_another_rate_is_resampled(recording, ast_model, capsys, monkeypatch):
    card = FakeSoundCard(load_audio(recording, 44100), 44100)
    use_sound_card(monkeypatch, card)
    code, lines, _ = listen(capsys, "-m", ast_model, "--threshold", LOW_THRESHOLD, "-f", "jsonl", "--no-vad")
    assert code == 0 and card.opened_with["samplerate"] == 44100
    events = [json.loads(line) for line in lines]
    duration = len(card.samples) / 44100
    assert events and all(0 <= e["start"] < e["end"] <= duration + 1e-3 for e in events)


def test_missing_portaudio_gives_a_clear_message(ast_model, monkeypatch, cli_error):
    real_import = builtins.__import__

    def no_portaudio(name, *args, **kwargs):
        if name == "sounddevice":
            raise OSError("PortAudio library not found")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_portaudio)
    cli_error(["listen", "-m", ast_model], "libportaudio2.*--input FILE")


def test_no_microphone_gives_a_clear_message(ast_model, monkeypatch, cli_error):
    use_sound_card(monkeypatch, FakeSoundCard(np.zeros(10, np.float32), 16000, fail_query=True))
    cli_error(["listen", "-m", ast_model], "no usable microphone")


def test_listen_as_a_user_runs_it(recording, ast_model):
    done = subprocess.run([sys.executable, "-m", "audiosift", "listen", "-m", str(ast_model), "--threshold", LOW_THRESHOLD,
                           "--input", str(recording)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() and " s  " in done.stdout.splitlines()[0]


def test_old_space_separated_labels_and_per_label_thresholds(recording, ast_model, capsys, cli_error):
    _, lines, _ = listen(capsys, "-m", ast_model, "--threshold", LOW_THRESHOLD, "--input", recording, "-f", "jsonl",
                         "--no-vad")
    events = [json.loads(line) for line in lines]
    labels = sorted({e["label"] for e in events})[:2]
    assert len(labels) == 2
    _, comma, _ = listen(capsys, "-m", ast_model, "--threshold", LOW_THRESHOLD, "--input", recording, "-f", "jsonl",
                         "--no-vad", "--labels", ",".join(labels))
    _, spaced, _ = listen(capsys, "-m", ast_model, "--threshold", LOW_THRESHOLD, "--input", recording, "-f", "jsonl",
                          "--no-vad", "--labels", *labels)
    assert comma == spaced and {json.loads(line)["label"] for line in comma} == set(labels)
    # per label: the first label at an unreachable score, the second at the low one
    _, mixed, _ = listen(capsys, "-m", ast_model, "--input", recording, "-f", "jsonl", "--no-vad",
                         "--labels", ",".join(labels), "--threshold", f"{labels[0]}=1.0,{labels[1]}={LOW_THRESHOLD}")
    assert mixed and {json.loads(line)["label"] for line in mixed} == {labels[1]}
    cli_error(["listen", "-m", ast_model, "--input", recording, "--threshold", "nonsense=0.5"], "cannot fire: nonsense")
    with pytest.raises(SystemExit) as usage:  # argparse's own check: exit 2 with the usage
        main(["listen", "-m", str(ast_model), "--input", str(recording), "--threshold", "yes=2"])
    assert usage.value.code == 2 and "--threshold: expected a score in (0, 1]" in capsys.readouterr().err
    cli_error(["listen", "-m", ast_model, "--input", recording, "--frame-scores", recording.parent / "f.jsonl"],
              "--frame-scores needs a wake-word model")
    cli_error(["listen", "-m", ast_model, "--input", recording, "stray.wav"], "listen takes no paths")
    cli_error(["listen", "-m", ast_model, "--input", recording, "-t", "0.7"], "use --threshold 0.7")


def test_event_formats_to_a_file_and_the_vad_threshold(recording, ast_model, capsys, tmp_path):
    _, lines, err = listen(capsys, "-m", ast_model, "--threshold", LOW_THRESHOLD, "--input", recording, "-f", "jsonl")
    events = [json.loads(line) for line in lines]
    out = tmp_path / "events.txt"
    code, stdout, _ = listen(capsys, "-m", ast_model, "--threshold", LOW_THRESHOLD, "--input", recording,
                             "-f", "raven", "-o", out)
    assert code == 0 and stdout == []
    import csv

    rows = list(csv.DictReader(out.read_text().splitlines(), delimiter="\t"))
    assert [(r["Annotation"], float(r["Begin Time (s)"])) for r in rows] == \
        [(e["label"], pytest.approx(e["start"], abs=1e-6)) for e in events]
    assert {r["Begin File"] for r in rows} == {recording.name}
    listen(capsys, "-m", ast_model, "--threshold", LOW_THRESHOLD, "--input", recording, "-f", "events-csv", "-o", out)
    assert out.read_text().splitlines()[0] == "path,start,end,label,score"
    _, _, strict = listen(capsys, "-m", ast_model, "--threshold", LOW_THRESHOLD, "--input", recording,
                          "--vad-threshold", "0.999")
    assert _window_counts(strict)[1] < _window_counts(err)[1]  # a stricter VAD lets fewer windows through


def test_progress_and_the_count_on_ctrl_c(recording, ast_model, capsys, monkeypatch):
    from audiosift.inference import streaming

    _, _, err = listen(capsys, "-m", ast_model, "--threshold", LOW_THRESHOLD, "--input", recording, "--progress")
    assert "live.wav:" in err and " s [" in err  # seconds done, as a bar
    real = streaming.StreamingClassifier.__call__
    calls = []

    def interrupted(self, chunk):
        calls.append(1)
        if len(calls) == 40:  # Ctrl-C part way through, after some detections
            raise KeyboardInterrupt
        return real(self, chunk)

    monkeypatch.setattr(streaming.StreamingClassifier, "__call__", interrupted)
    code, lines, err = listen(capsys, "-m", ast_model, "--threshold", LOW_THRESHOLD, "--input", recording, "--no-vad")
    assert code == 130 and f"stopped; {len(lines)} detection(s)" in err and lines
