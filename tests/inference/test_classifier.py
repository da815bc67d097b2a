"""The public classifier call: input types, order, top-k, and batch jobs that carry on past bad items."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

import audiosift
from audiosift.inference.engine import length_sorted_batches


@pytest.fixture(scope="module")
def clf(wav2vec2_model):
    return audiosift.load(str(wav2vec2_model), device="cpu", batch_size=3)


def test_one_clip_gives_top_5_best_first(clf, audio_dir):
    predictions = clf(audio_dir / "yes.wav")
    assert len(predictions) == 5
    assert [set(p) for p in predictions] == [{"label", "score"}] * 5
    scores = [p["score"] for p in predictions]
    assert scores == sorted(scores, reverse=True)
    # exactly the five best of the clip's scores over every label
    row = clf.scores([audiosift.audio.load_audio(audio_dir / "yes.wav", clf.sampling_rate)])[0]
    best = np.argsort(-row, kind="stable")[:5]
    assert [p["label"] for p in predictions] == [clf.labels[i] for i in best]
    np.testing.assert_allclose(scores, row[best], atol=1e-6)


def test_top_k_none_returns_every_label_summing_to_one(clf, audio_dir):
    predictions = clf(str(audio_dir / "yes.wav"), top_k=None)
    assert sorted(p["label"] for p in predictions) == sorted(clf.labels)
    assert abs(sum(p["score"] for p in predictions) - 1) < 1e-5


def test_mixed_input_types_keep_their_order(clf, audio_dir):
    wav = audio_dir / "yes.wav"
    array, rate = sf.read(audio_dir / "sentence.wav", dtype="float32")
    inputs = [str(wav), (audio_dir / "tone.wav").read_bytes(), {"array": array, "sampling_rate": rate},
              audio_dir / "noise.wav", {"path": str(audio_dir / "yes.flac"), "bytes": None}]
    batched = clf(inputs, top_k=3)
    singles = [clf(item, top_k=3) for item in inputs]
    assert len(batched) == len(inputs)
    # the four different clips score differently, so a batch out of order would show
    tops = [tuple(round(p["score"], 3) for p in single) for single in singles]
    assert len(set(tops[:4])) == 4
    for got, expected in zip(batched, singles):
        assert [p["label"] for p in got] == [p["label"] for p in expected]
        np.testing.assert_allclose([p["score"] for p in got], [p["score"] for p in expected], atol=1e-5)


def test_array_without_rate_in_a_batch_is_an_error(clf):
    with pytest.raises(audiosift.InvalidAudioError, match="sampling_rate"):
        clf([np.zeros(16000, np.float32)])


def test_arrays_take_the_sampling_rate_argument(clf, audio_dir):
    array, rate = sf.read(audio_dir / "yes_8k.wav", dtype="float32")
    assert rate == 8000
    np.testing.assert_allclose(
        [p["score"] for p in clf(array, sampling_rate=8000)],
        [p["score"] for p in clf(audio_dir / "yes_8k.wav")], atol=1e-6)


def test_bad_top_k(clf, audio_dir):
    with pytest.raises(ValueError, match="top_k"):
        clf(audio_dir / "yes.wav", top_k=0)


def test_classify_many_reports_bad_items_and_carries_on(clf, audio_dir, tmp_path):
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF....WAVEfmt garbage")
    inputs = [audio_dir / "yes.wav", broken, tmp_path / "missing.ogg", audio_dir / "tone.wav",
              np.zeros(10, np.float32)] + [audio_dir / "noise.wav"] * 12
    results = list(clf.classify_many(inputs, sampling_rate=16000, top_k=2))
    assert [r.index for r in results] == list(range(len(inputs)))
    assert [r.ok for r in results[:5]] == [True, False, False, True, False]
    assert "missing.ogg: no such file" in results[2].error
    assert "at least" in results[4].error  # 10 samples is shorter than the model's receptive field
    assert all(r.ok and len(r.predictions) == 2 for r in results[5:])
    alone = clf(audio_dir / "yes.wav", top_k=2)  # one clip alone vs in a padded batch: float rounding only
    assert [p["label"] for p in results[0].predictions] == [p["label"] for p in alone]
    np.testing.assert_allclose([p["score"] for p in results[0].predictions], [p["score"] for p in alone], atol=1e-6)


def test_length_sorted_batches_cover_every_position_once():
    lengths = [5, 1, 9, 3, 3, 7, 2]
    batches = length_sorted_batches(lengths, 3)
    assert sorted(p for b in batches for p in b) == list(range(len(lengths)))
    flat = [lengths[p] for b in batches for p in b]
    assert flat == sorted(flat) and [len(b) for b in batches] == [3, 3, 1]


def test_long_clip_on_fixed_window_model_warns(ast_model):
    from audiosift.inference.classifier import LongClipWarning

    clf = audiosift.load(str(ast_model), device="cpu")
    with pytest.warns(LongClipWarning, match="sees only its first 1.295 s"):
        clf(np.zeros(16000 * 5, np.float32), sampling_rate=16000)


def test_cpu_batches_are_bounded_by_encoder_positions_and_padding():
    from audiosift.inference.engine import CPU_POSITIONS_PER_BATCH

    # Whisper-like: 1500 positions a clip -> one clip a batch on a CPU.
    assert length_sorted_batches([10, 20, 30], 8, [1500, 1500, 1500]) == [[0], [1], [2]]
    # AST-like: 146 positions -> 4 clips fit in the budget.
    assert CPU_POSITIONS_PER_BATCH // 146 == 4
    assert [len(b) for b in length_sorted_batches([1] * 10, 16, [146] * 10)] == [4, 4, 2]
    # Variable length: a clip 25% longer than the batch's shortest starts a new batch (padding waste).
    lengths = [400, 420, 500, 510, 640]
    assert length_sorted_batches(lengths, 8, [n // 4 for n in lengths]) == [[0, 1], [2, 3], [4]]
    assert length_sorted_batches(lengths, 8, lengths) == [[0], [1], [2], [3], [4]]  # 2 x 420 > 600
    # Unknown cost (or a GPU): only batch_size bounds the batch.
    assert length_sorted_batches(lengths, 8) == [[0, 1, 2, 3, 4]]


def test_backends_report_their_encoder_positions(ast_model, wav2vec2_model, whisper_model):
    ast = audiosift.load(str(ast_model), device="cpu")
    assert ast.backend.encoder_positions(16000) == ast.backend.encoder_positions(160000) == 12 * 12 + 2
    w2v = audiosift.load(str(wav2vec2_model), device="cpu")
    assert w2v.backend.encoder_positions(16000) == 16000 // 320  # wav2vec2's conv encoder strides by 320
    whisper = audiosift.load(str(whisper_model), device="cpu")
    assert whisper.backend.encoder_positions(16000) == 1500


def test_fixed_window_models_decode_only_what_they_see(ast_model, whisper_model, tmp_path):
    """A 10-minute file costs a fixed-window model a window's worth of memory, with the same scores."""
    import tracemalloc

    import soundfile as sf

    from audiosift.inference.classifier import LongClipWarning

    rng = np.random.default_rng(1)
    path = tmp_path / "long.wav"
    with sf.SoundFile(path, "w", samplerate=16000, channels=1, subtype="PCM_16") as handle:
        for _ in range(60):  # 10 minutes: 38 MB as float32 if it were decoded whole
            handle.write(rng.uniform(-0.3, 0.3, 160000).astype(np.float32))
    for folder in (ast_model, whisper_model):
        clf = audiosift.load(str(folder), device="cpu")
        head = sf.read(path, frames=int(clf.window_seconds * 16000) + 1, dtype="float32")[0]
        tracemalloc.start()
        try:
            with pytest.warns(LongClipWarning, match=r"clip is 600\.0 s but this model sees only"):
                got = clf(path, top_k=None)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 15e6, f"{folder.name}: {peak / 1e6:.0f} MB traced while classifying a 10-minute file"
        expected = clf(head, sampling_rate=16000, top_k=None)
        assert [p["label"] for p in got] == [p["label"] for p in expected]
        np.testing.assert_allclose([p["score"] for p in got], [p["score"] for p in expected], atol=1e-6)


def test_variable_length_models_refuse_clips_past_their_maximum(wav2vec2_model):
    clf = audiosift.load(str(wav2vec2_model), device="cpu")
    too_long = np.zeros(int((clf.backend.max_seconds + 1) * 16000), np.float32)
    with pytest.raises(audiosift.AudioTooLongError, match="at most 300 s.*--window"):
        clf(too_long, sampling_rate=16000)
    results = list(clf.classify_many([too_long, np.zeros(16000, np.float32)], sampling_rate=16000))
    assert "at most 300 s" in results[0].error and results[1].ok  # a batch job reports it and goes on


def test_whole_clip_models_without_a_window_have_a_maximum_too(clap_model):
    """The VAD and CLAP score a whole clip at once: past 5 minutes they refuse (and say --window),
    instead of decoding an hour (1.08 GB peak through the CLI for the VAD before)."""
    speech, zero_shot = audiosift.load("speech"), audiosift.load(str(clap_model), device="cpu")
    for clf, kwargs in [(speech, {}), (zero_shot, {"candidate_labels": ["dog"]})]:
        assert clf.backend.max_seconds == 300.0
        with pytest.raises(audiosift.AudioTooLongError, match=r"at most 300 s: classify longer .*--window"):
            clf(np.zeros(301 * 16000, np.float32), sampling_rate=16000, **kwargs)
