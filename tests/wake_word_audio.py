"""Wake-word test audio made on the spot (espeak-ng and flite voices), and the reference
implementations the parity tests compare against."""

from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from audio_factory import require

RATE = 16000
PAD_SECONDS = 0.5  # silence before and after each phrase


def phrase(text: str, folder: Path, voice: str = "en", engine: str = "espeak") -> np.ndarray:
    """``text`` spoken by an espeak-ng or flite voice: 16 kHz mono float32, padded with 0.5 s of
    silence on both sides (so the phrase starts at 0.5 s)."""
    path = Path(folder) / f"{engine}-{voice}-{text.replace(' ', '_')}.wav"
    if engine == "espeak":
        subprocess.run([require("espeak-ng"), "-v", voice, "-w", str(path), text], check=True)
    else:
        subprocess.run([require("flite"), "-voice", voice, "-t", text, "-o", str(path)], check=True)
    samples, rate = sf.read(path, dtype="float32")
    samples = soxr.resample(samples, rate, RATE).astype(np.float32)
    pad = np.zeros(int(PAD_SECONDS * RATE), dtype=np.float32)
    return np.concatenate([pad, samples, pad])


def speech_end(samples: np.ndarray, level: float = 0.01) -> float:
    """Where the last sample louder than ``level`` is, in seconds (the synthesizers add silence)."""
    loud = np.flatnonzero(np.abs(samples) > level)
    return float(loud[-1] + 1) / RATE


def as_int16(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.round(samples * 32768.0), -32768, 32767).astype(np.int16)


def openwakeword_reference(words: list[str]):
    """openWakeWord's own ``Model`` over the same model files, on LiteRT.

    openwakeword 0.6.0 imports ``tflite_runtime``, whose wheels are built for numpy 1 and fail under
    numpy 2; ``ai_edge_litert.interpreter`` is TFLite's successor with the same Interpreter API, so
    the reference runs on it (the same runtime as ours: the comparison is of the pipelines).
    """
    from ai_edge_litert import interpreter

    shim = types.ModuleType("tflite_runtime")
    shim.interpreter = interpreter
    sys.modules.setdefault("tflite_runtime", shim)
    sys.modules.setdefault("tflite_runtime.interpreter", interpreter)
    import openwakeword

    from audiosift.models.wakeword import catalog

    folder = catalog.openwakeword_dir()
    return openwakeword.Model(
        wakeword_models=[str(folder / f"{catalog.OPENWAKEWORD_HEADS[w]}.tflite") for w in words],
        inference_framework="tflite", melspec_model_path=str(folder / "melspectrogram.tflite"),
        embedding_model_path=str(folder / "embedding_model.tflite"))


def peak_score(backend, audio: np.ndarray, label: str) -> float:
    """``label``'s best frame score over ``audio`` padded with a second of silence each side."""
    pad = np.zeros(RATE, np.float32)
    scores = backend.frame_scores(np.concatenate([pad, audio, pad]))
    return float(scores[:, backend.labels.index(label)].max())
