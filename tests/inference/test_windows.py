"""Window-by-window classification of long recordings: timing, scores, defaults, zero-shot, memory."""

from __future__ import annotations

import tracemalloc
import warnings

import numpy as np
import pytest
import soundfile as sf

import audiosift
from audiosift.audio import load_audio
from audiosift.errors import InvalidAudioError
from audiosift.inference.classifier import Classifier, LongClipWarning
from audiosift.inference.options import RuntimeOptions
from audiosift.models.base import ClipBackend
from audiosift.inference.windows import (FALLBACK_WINDOW_SECONDS, WindowCutter, WindowOptions, classify_windows,
                                         default_window, window_grid, window_options)

RATE = 16000


@pytest.fixture(scope="module")
def ast(ast_model):
    return audiosift.load(str(ast_model), device="cpu", batch_size=4)


@pytest.fixture(scope="module")
def recording(tmp_path_factory, audio_dir):
    """5.3 s: the sentence, silence, "yes" and a tone, as a 44.1 kHz stereo file (decoded in blocks)."""
    sentence = load_audio(audio_dir / "sentence.wav", RATE)
    yes = load_audio(audio_dir / "yes.wav", RATE)
    tone = load_audio(audio_dir / "tone.wav", RATE)
    mono = np.concatenate([sentence, np.zeros(RATE // 2, np.float32), yes, tone])
    mono = np.pad(mono, (0, max(0, int(5.3 * RATE) - len(mono))))[: int(5.3 * RATE)]
    path = tmp_path_factory.mktemp("long") / "recording.wav"
    sf.write(path, np.stack([mono, mono], axis=1), RATE, subtype="FLOAT")
    return path


@pytest.mark.parametrize("block", [1, 7, 100, 1000])
def test_window_grid_is_independent_of_block_size(block):
    samples = np.arange(1000, dtype=np.float32)
    windows = list(window_grid((samples[i : i + block] for i in range(0, 1000, block)), window=300, hop=120))
    starts = [start for start, _ in windows]
    # Starts every hop until a window reaches the end (720 + 300 >= 1000); the last is shorter.
    assert starts == [0, 120, 240, 360, 480, 600, 720]
    for start, chunk in windows:
        np.testing.assert_array_equal(chunk, samples[start : start + 300])


def test_window_grid_short_audio_gives_one_short_window():
    windows = list(window_grid([np.ones(50, np.float32)], window=300, hop=100))
    assert [(s, len(w)) for s, w in windows] == [(0, 50)]


def test_cutter_holds_at_most_a_window_and_a_block():
    cutter = WindowCutter(window=300, hop=100)
    for _ in range(100):
        cutter.push(np.zeros(64, np.float32))
        assert len(cutter.held) <= 300 + 64


def test_windows_have_timestamps_and_the_scores_of_their_slice(ast, recording):
    options = WindowOptions(window_s=1.0, hop_s=0.5, top_k=None)
    windows = list(classify_windows(ast, recording, options, block_seconds=0.3))
    audio = load_audio(recording, RATE)
    assert [w["start"] for w in windows] == [k * 0.5 for k in range(10)]
    assert [w["end"] for w in windows] == [k * 0.5 + 1.0 for k in range(9)] + [len(audio) / RATE]
    slices = [audio[int(w["start"] * RATE) : int(round(w["end"] * RATE))] for w in windows]
    expected = ast.scores(slices)
    # neighbouring windows score far apart (>> atol), so the scores of a slice off by a hop would fail
    assert min(np.abs(a - b).max() for a, b in zip(expected, expected[1:])) >= 1e-3
    for window, row in zip(windows, expected):
        got = {p["label"]: p["score"] for p in window["predictions"]}
        np.testing.assert_allclose([got[label] for label in ast.labels], row, atol=1e-5)


def test_top_k_and_progress(ast, recording):
    seen = []
    windows = list(classify_windows(ast, recording, WindowOptions(1.8, 1.8, top_k=3, batch_size=2),
                                    progress=lambda done, total: seen.append((done, total))))
    assert [(w["start"], w["end"]) for w in windows] == [(0.0, 1.8), (1.8, 3.6), (3.6, 5.3)]
    audio = load_audio(recording, RATE)
    rows = ast.scores([audio[round(w["start"] * RATE) : round(w["end"] * RATE)] for w in windows])
    for window, row in zip(windows, rows):  # each window's own three best labels and scores
        best = np.argsort(-row, kind="stable")[:3]
        assert [p["label"] for p in window["predictions"]] == [ast.labels[i] for i in best]
        np.testing.assert_allclose([p["score"] for p in window["predictions"]], row[best], atol=1e-5)
    assert seen == [(3.6, pytest.approx(5.3)), (5.3, pytest.approx(5.3))]  # after each batch of 2 windows


def test_defaults_are_facts_of_the_loaded_model(ast, ast_model, whisper_model, wav2vec2_model, tmp_path):
    assert default_window(ast) == (1.295, 0.6475)  # a local AST folder: its max_length frames
    # The same model under another name (a copy of the folder) gets the same window: the model's fact.
    import shutil

    copy = shutil.copytree(ast_model, tmp_path / "keywords-copy")
    assert default_window(audiosift.load(str(copy), device="cpu")) == default_window(ast)
    assert default_window(audiosift.load(str(whisper_model), device="cpu")) == (30.0, 30.0)  # costly: no overlap
    w2v = audiosift.load(str(wav2vec2_model), device="cpu")
    assert default_window(w2v) == (FALLBACK_WINDOW_SECONDS, FALLBACK_WINDOW_SECONDS / 2)
    assert default_window(audiosift.load("speech")) == (1.0, 0.5)  # the VAD's natural window
    assert window_options(ast, 3.0) == WindowOptions(3.0, 1.5)
    assert window_options(ast, 3.0, 1.0) == WindowOptions(3.0, 1.0)


def test_bad_options_and_short_audio_are_refused(ast):
    with pytest.raises(ValueError, match="hop"):
        WindowOptions(1.0, 2.0)
    with pytest.raises(ValueError, match="window"):
        WindowOptions(0.0, 0.0)
    with pytest.raises(InvalidAudioError, match="at least"):
        list(classify_windows(ast, np.zeros(100, np.float32), sampling_rate=RATE))


def test_a_window_longer_than_the_model_sees_warns(ast, recording):
    with pytest.warns(LongClipWarning, match="longer than"):
        list(classify_windows(ast, recording, WindowOptions(4.0, 4.0)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        list(classify_windows(ast, recording, WindowOptions(1.0, 1.0)))


def test_zero_shot_windows(clap_model, recording):
    zero_shot = audiosift.load(str(clap_model), device="cpu")
    labels = ["dog", "speech", "siren"]
    windows = list(classify_windows(zero_shot, recording, WindowOptions(2.5, 2.5, top_k=None),
                                    candidate_labels=labels))
    assert [(w["start"], w["end"]) for w in windows] == [(0.0, 2.5), (2.5, 5.0), (5.0, 5.3)]
    audio = load_audio(recording, zero_shot.sampling_rate)
    rate = zero_shot.sampling_rate
    slices = [audio[round(w["start"] * rate) : round(w["end"] * rate)] for w in windows]
    expected = zero_shot.scores(slices, labels)
    for window, row in zip(windows, expected):
        got = {p["label"]: p["score"] for p in window["predictions"]}
        np.testing.assert_allclose([got[label] for label in labels], row, atol=1e-5)
    with pytest.raises(audiosift.UsageError, match="needs the labels"):
        list(classify_windows(zero_shot, recording))


def test_fixed_models_take_a_subset_of_their_labels_only(ast, recording):
    with pytest.raises(audiosift.UsageError, match="not among this model's labels"):
        list(classify_windows(ast, recording, WindowOptions(1.0, 1.0, batch_size=1), candidate_labels=["x"]))
    with pytest.raises(audiosift.UsageError, match="templates apply only"):
        list(classify_windows(ast, recording, hypothesis_template="a {}"))
    picked = [ast.labels[2], ast.labels[0]]
    every = list(classify_windows(ast, recording, WindowOptions(1.0, 1.0, top_k=None)))
    subset = list(classify_windows(ast, recording, WindowOptions(1.0, 1.0, top_k=None), candidate_labels=picked))
    for whole, part in zip(every, subset):
        scores = {p["label"]: p["score"] for p in whole["predictions"]}
        assert [p["label"] for p in part["predictions"]] == sorted(picked, key=lambda label: -scores[label])
        assert all(p["score"] == scores[p["label"]] for p in part["predictions"])  # the model's own scores


def write_noise(path, minutes: float):
    rng = np.random.default_rng(0)
    with sf.SoundFile(path, "w", samplerate=RATE, channels=1, subtype="PCM_16") as handle:
        for _ in range(int(minutes * 6)):
            handle.write(rng.uniform(-0.2, 0.2, 10 * RATE).astype(np.float32))
    return path


class LoudnessBackend(ClipBackend):
    """A stand-in model ("loud"/"quiet" from RMS) so the test measures our pipeline, not a model's."""

    model_id, labels, sampling_rate = "loudness", ["loud", "quiet"], RATE

    def featurize(self, waveform):
        return min(1.0, float(np.sqrt(np.mean(waveform**2))) * 5)

    def collate(self, features):
        return [(list(range(len(features))), np.array(features, dtype=np.float32))]

    def forward(self, batch):
        return np.stack([batch, 1 - batch], axis=1)


def LoudnessClassifier():
    return Classifier(LoudnessBackend(), RuntimeOptions(), "loudness")


def peak_while_classifying(classifier, path) -> tuple[int, int]:
    tracemalloc.start()
    try:
        count = sum(1 for _ in classify_windows(classifier, path, WindowOptions(1.0, 0.5, top_k=1)))
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_bounded_while_classifying_a_long_file(tmp_path):
    classifier = LoudnessClassifier()
    short_count, short_peak = peak_while_classifying(classifier, write_noise(tmp_path / "short.wav", minutes=1))
    # 10 minutes at 16 kHz: 38 MB as float32 if decoded whole.
    long_count, long_peak = peak_while_classifying(classifier, write_noise(tmp_path / "long.wav", minutes=10))
    assert (short_count, long_count) == (119, 1199)  # every 0.5 s until a window reaches the end
    assert long_peak < short_peak * 1.25 + 200_000, f"peak grew: {short_peak / 1e6:.1f} -> {long_peak / 1e6:.1f} MB"
    assert long_peak < 6_000_000, f"peak {long_peak / 1e6:.1f} MB"  # a 10 s block and its windows
