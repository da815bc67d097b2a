"""Long test recordings with known content: espeak-ng speech placed at known offsets between silence,
noise and tones. The truth for each spoken part is where its audible samples landed, measured
from the espeak clip's own non-silent extent (espeak pads its clips with silence)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

import audio_factory

RATE = 16000
# A sample counts as audible above this absolute level (~ -46 dBFS): espeak's pauses are exact zeros.
AUDIBLE_LEVEL = 0.005


@dataclass(frozen=True)
class Placed:
    kind: str  # "speech", "silence", "noise" or "tone"
    text: str
    start: float  # seconds: the audible extent of this part within the recording
    end: float


def speech_clip(text: str, folder: Path, voice: str = "en") -> np.ndarray:
    from audiosift.audio import load_audio

    path = Path(folder) / f"say_{abs(hash((text, voice)))}.wav"
    if not path.exists():
        audio_factory.speak(text, path, voice=voice)
    return load_audio(path, RATE)


def audible_extent(samples: np.ndarray) -> tuple[int, int]:
    loud = np.flatnonzero(np.abs(samples) > AUDIBLE_LEVEL)
    return int(loud[0]), int(loud[-1]) + 1


def compose(parts: list[tuple[str, object]], folder: Path, seed: int = 0) -> tuple[np.ndarray, list[Placed]]:
    """``[("silence", 1.0), ("speech", "hello there"), ("noise", 2.0), ("tone", 1.0), ...]`` -> 16 kHz audio.

    Noise is white at amplitude 0.05; tones are 440 Hz at 0.3. Speech is placed trimmed to its
    audible extent, so the recorded start/end are exact.
    """
    rng = np.random.default_rng(seed)
    pieces, placed, position = [], [], 0
    for kind, value in parts:
        if kind == "speech":
            voice = "en"
            text = value
            if isinstance(value, tuple):
                text, voice = value
            clip = speech_clip(text, folder, voice)
            first, last = audible_extent(clip)
            piece = clip[first:last]
        else:
            count = int(round(float(value) * RATE))
            if kind == "silence":
                piece = np.zeros(count, dtype=np.float32)
            elif kind == "noise":
                piece = rng.uniform(-0.05, 0.05, count).astype(np.float32)
            elif kind == "tone":
                piece = (0.3 * np.sin(2 * np.pi * 440 * np.arange(count) / RATE)).astype(np.float32)
            else:
                raise ValueError(f"unknown part {kind!r}")
            text = ""
        placed.append(Placed(kind, str(text), position / RATE, (position + len(piece)) / RATE))
        pieces.append(piece)
        position += len(piece)
    return np.concatenate(pieces).astype(np.float32), placed


def write(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    sf.write(path, samples, rate, subtype="PCM_16")
    return Path(path)
