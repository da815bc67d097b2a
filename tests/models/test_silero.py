"""The offline `speech` preset is a real pre-trained model: its scores mean something."""

from __future__ import annotations

import numpy as np
import pytest

import audiosift
from audiosift.models.silero import FRAME_SAMPLES


@pytest.fixture(scope="module")
def speech():
    return audiosift.load("speech")


def test_metadata(speech):
    assert speech.labels == ["speech", "no_speech"]
    assert speech.sampling_rate == 16000
    assert speech.model_id == "builtin:silero-vad"


def test_espeak_speech_scores_high_and_noise_and_tones_low(speech, audio_dir):
    results = speech([audio_dir / "yes.wav", audio_dir / "sentence.wav", audio_dir / "tone.wav",
                      audio_dir / "noise.wav"], top_k=None)
    speech_score = [{p["label"]: p["score"] for p in r}["speech"] for r in results]
    assert speech_score[0] > 0.8 and speech_score[1] > 0.8, speech_score
    assert speech_score[2] < 0.2 and speech_score[3] < 0.2, speech_score


def test_speech_surrounded_by_silence_still_scores_high(speech, audio_dir):
    word = speech.prepare(audio_dir / "yes.wav")
    padded = np.concatenate([np.zeros(48000, np.float32), word, np.zeros(48000, np.float32)])
    assert speech(padded, sampling_rate=16000)[0]["label"] == "speech"


def test_batched_scores_equal_single_scores(speech, audio_dir):
    clips = [speech.prepare(audio_dir / name) for name in ["yes.wav", "tone.wav", "sentence.wav", "noise.wav"]]
    batched = speech.scores(clips)
    singles = np.concatenate([speech.scores([clip]) for clip in clips])
    np.testing.assert_allclose(batched, singles, atol=1e-6)


def test_frame_probabilities_have_one_value_per_32ms(speech, audio_dir):
    clip = speech.prepare(audio_dir / "sentence.wav")
    frames = speech.backend.frame_probabilities([clip])[0]
    assert len(frames) == -(-len(clip) // FRAME_SAMPLES)
    assert frames.max() > 0.9 and frames.min() < 0.5


def test_8k_and_stereo_inputs_work(speech, audio_dir):
    for name in ["yes_8k.wav", "yes_44k_stereo.wav", "yes.webm"]:
        assert speech(audio_dir / name)[0]["label"] == "speech", name


def test_too_short_clip_is_a_clear_error(speech):
    with pytest.raises(audiosift.InvalidAudioError, match="at least 0.032 s"):
        speech(np.zeros(100, np.float32), sampling_rate=16000)
