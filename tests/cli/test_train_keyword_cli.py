"""``audiosift train-keyword`` end to end on the tiny budget, then the folder it wrote through
``evaluate-keyword``, ``listen`` and ``classify``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from audiosift.cli.main import main
from audiosift.keywords import synth

RATE = 16000
VOICE = synth.Voice("espeak", "en-us+m3", 160.0, 50.0)


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory):
    """A keyword trained by the CLI, with two recordings "of yours" (one an unreadable file)."""
    root = tmp_path_factory.mktemp("kwcli")
    examples = root / "examples"
    examples.mkdir()
    for i, name in enumerate(["en-gb+m2", "en-us+f3", "en+m5", "en-us+m1"]):
        sf.write(examples / f"mine-{i}.wav", synth.synthesize("hey computer", synth.Voice("espeak", name, 150, 40)),
                 RATE)
    (examples / "broken.wav").write_bytes(b"not audio at all")
    return root, examples


def run_cli(capsys, argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return code, captured.out, captured.err


def test_train_then_evaluate_listen_and_classify(cli_model, capsys, tmp_path):
    root, examples = cli_model
    folder = root / "model"
    code, out, err = run_cli(capsys, ["train-keyword", "hey computer", "--output", folder, "--budget", "tiny",
                                      "--synthesizers", "espeak", "--examples", examples])
    assert code == 0, err
    assert "skipped" in err and "broken.wav" in err  # the bad recording is reported, training goes on
    assert "train-keyword [" in err and "head 1/2: step" in err and "head 2/2: step" in err  # progress on stderr
    manifest = json.loads((folder / "keyword.json").read_text())
    assert manifest["recipe"]["clips"]["train_user"] == 3 * 4  # 3 kept for training x 4 copies (tiny)
    assert manifest["heldout"]["user_recall"] is not None  # the fourth recording was held out
    assert f"recall {manifest['heldout']['recall']:.1%}" in out and "false accept" in out

    # A recording with the keyword at a known time, and one without.
    speech = synth.synthesize("hey computer", VOICE)
    other = synth.synthesize("the weather is nice today", VOICE)
    silence = np.zeros(RATE, np.float32)
    recording = np.concatenate([silence, other, silence, speech, silence, other, silence])
    start = (2 * RATE + len(other)) / RATE
    sf.write(tmp_path / "long.wav", recording, RATE)
    sf.write(tmp_path / "none.wav", np.concatenate([silence, other, silence]), RATE)
    (tmp_path / "times.csv").write_text(f"file,start,end\nlong.wav,{start:.3f},{start + len(speech) / RATE:.3f}\n")
    report_dir = tmp_path / "report"
    code, out, err = run_cli(capsys, ["evaluate-keyword", folder, "--recordings", tmp_path / "long.wav",
                                      tmp_path / "none.wav", "--times", tmp_path / "times.csv", "-o", report_dir])
    assert code == 0, err
    report = json.loads((report_dir / "report.json").read_text())
    at = report["at_threshold"]
    assert at["occurrences"] == 1 and at["threshold"] == manifest["threshold"]
    assert at["hours"] == pytest.approx((len(recording) + 2 * RATE + len(other)) / RATE / 3600, rel=1e-3)
    assert f"recall {at['recall']:.1%}" in out and (report_dir / "det.png").stat().st_size > 1000
    curve_thresholds = [point["threshold"] for point in report["curve"]]
    assert curve_thresholds == sorted(curve_thresholds) and len(curve_thresholds) > 50

    # The same folder in listen and classify (any detector model works there).
    code, out, err = run_cli(capsys, ["listen", "-m", folder, "--input", tmp_path / "long.wav", "-f", "jsonl",
                                      "--threshold", "0.01"])
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    assert events and {event["label"] for event in events} == {"hey computer"}
    code, out, err = run_cli(capsys, ["classify", "-m", folder, tmp_path / "long.wav", "-f", "jsonl"])
    assert code == 0, err


def test_cli_errors_are_one_line(cli_error, tmp_path):
    cli_error(["train-keyword", "hey <you>", "--output", tmp_path / "x"], r"English words")
    (tmp_path / "file").write_text("x")
    cli_error(["train-keyword", "hey you", "--output", tmp_path / "file", "--budget", "tiny"], r"is a file")
    cli_error(["train-keyword", "hey you", "--output", tmp_path / "y", "--examples", tmp_path / "nope"],
              r"no such folder")
    cli_error(["evaluate-keyword", "wake-word", "--recordings", tmp_path / "file"], r"--times")
    cli_error(["evaluate-keyword", "wake-word"], r"nothing to evaluate")
    cli_error(["evaluate-keyword", "-m", "wake-word"], r"nothing to evaluate")  # -m as every command spells it
    cli_error(["evaluate-keyword", "--negatives", tmp_path / "file"], r"no model given: name it as MODEL or with --model")
    cli_error(["evaluate-keyword", "wake-word", "-m", "wake-word-micro"], r"two models given")
    cli_error(["export", "--output", tmp_path / "z"], r"no model given")


def test_evaluate_keyword_on_negatives_only_reports_false_accepts(tmp_path, capsys):
    """No keyword occurrences: recall is undefined, the false accepts still count (no crash)."""
    import numpy as np
    import soundfile as sf

    from audiosift.cli.main import main

    noise = tmp_path / "noise.wav"
    sf.write(noise, (0.05 * np.random.default_rng(0).standard_normal(3 * 16000)).astype(np.float32), 16000)
    code = main(["evaluate-keyword", "--model", "wake-word", "--label", "alexa", "--negatives", str(noise),
                 "-o", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0 and "recall n/a" in out and (tmp_path / "out" / "report.json").is_file()
