"""Session fixtures: tiny random-weight models saved to a temp folder, and generated test audio."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Nothing may reach a hub from the tests, whatever the machine's network allows.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

sys.path.insert(0, str(Path(__file__).parent))

import audio_factory  # noqa: E402
import model_factory  # noqa: E402


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def ast_model(models_dir) -> Path:
    return model_factory.build_ast(models_dir / "ast")


@pytest.fixture(scope="session")
def wav2vec2_model(models_dir) -> Path:
    return model_factory.build_wav2vec2(models_dir / "wav2vec2")


@pytest.fixture(scope="session")
def hubert_model(models_dir) -> Path:
    return model_factory.build_hubert(models_dir / "hubert")


@pytest.fixture(scope="session")
def whisper_model(models_dir) -> Path:
    return model_factory.build_whisper(models_dir / "whisper")


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory) -> Path:
    """Generated clips: espeak-ng words, a tone, noise, and format/rate/channel conversions."""
    folder = tmp_path_factory.mktemp("audio")
    audio_factory.speak("yes", folder / "yes.wav")
    audio_factory.speak("turn on the lights in the kitchen please", folder / "sentence.wav")
    audio_factory.tone(folder / "tone.wav", seconds=1.0)
    audio_factory.noise(folder / "noise.wav", seconds=1.0)
    audio_factory.convert(folder / "yes.wav", folder / "yes_8k.wav", rate=8000)
    audio_factory.convert(folder / "yes.wav", folder / "yes_44k_stereo.wav", rate=44100, channels=2)
    for suffix in audio_factory.FFMPEG_CODECS:
        audio_factory.convert(folder / "yes_44k_stereo.wav", folder / f"yes.{suffix}")
    return folder


@pytest.fixture(scope="session")
def clap_model(models_dir) -> Path:
    """A tiny random CLAP (HTSAT + RoBERTa-style text tower) with a word-level tokenizer."""
    return model_factory.build_clap(models_dir / "clap")


@pytest.fixture(scope="session")
def trained_keyword(tmp_path_factory):
    """A custom keyword, "hey computer", trained once per session on the tiny budget (espeak-ng voices
    only): ``(folder, TrainResult, the progress messages)``."""
    from audiosift.keywords.train import train_keyword

    folder = tmp_path_factory.mktemp("kw") / "hey_computer"
    messages = []
    result = train_keyword("hey computer", folder, budget="tiny", engines=["espeak"], seed=0, progress=messages.append)
    return folder, result, messages
