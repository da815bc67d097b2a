"""The offline ``speech`` preset: Silero VAD (MIT), as shipped inside the ``silero-vad`` wheel.

Its TorchScript model runs on torch alone (the package's ``read_audio`` needs torchaudio; we never
call it). The model gives one speech probability per 32 ms frame (512 samples at 16 kHz).

As a clip classifier it returns two labels. The clip's ``speech`` score is the mean of its
``SPEECH_EVIDENCE_FRAMES`` most speech-like frames (all frames if the clip is shorter): a clip
scores high when it holds at least ~0.25 s of confident speech, however much silence surrounds
it, and a single spurious frame cannot make it score high. ``no_speech`` is ``1 - speech``.
"""

from __future__ import annotations

import math
import threading
import warnings
from pathlib import Path

import numpy as np

from audiosift.errors import ModelUnavailableError
from audiosift.models.base import ClassifierBackend

SAMPLING_RATE = 16000
FRAME_SAMPLES = 512  # the model's fixed chunk at 16 kHz
FRAME_SECONDS = FRAME_SAMPLES / SAMPLING_RATE  # 0.032 s
# 0.25 s of speech (a short word) is 8 frames of 32 ms: ceil(0.25 / 0.032).
SPEECH_EVIDENCE_FRAMES = math.ceil(0.25 / FRAME_SECONDS)
LABELS = ["speech", "no_speech"]


def silero_model_path() -> Path:
    try:
        import silero_vad
    except ImportError as error:
        raise ModelUnavailableError(
            "the 'speech' preset needs the silero-vad package: pip install 'silero-vad==6.2.3' "
            "(without its audio/all extras, which pull torchaudio)"
        ) from error
    return Path(silero_vad.__file__).parent / "data" / "silero_vad.jit"


class SileroSpeechBackend(ClassifierBackend):
    model_id = "builtin:silero-vad"
    labels = LABELS
    sampling_rate = SAMPLING_RATE
    multi_label = False
    min_samples = FRAME_SAMPLES
    window_seconds = None

    def __init__(self, device=None):
        import torch

        self._torch = torch
        self.device = torch.device("cpu")  # a 1.8 MB model: the GPU would only add copies
        with warnings.catch_warnings():  # torch 2.13 deprecates jit.load; the wheel ships only TorchScript
            warnings.simplefilter("ignore", DeprecationWarning)
            self.model = torch.jit.load(str(silero_model_path()), map_location="cpu").eval()
        self._lock = threading.Lock()  # the TorchScript module keeps recurrent state between calls

    def frame_probabilities(self, waveforms: list[np.ndarray]) -> list[np.ndarray]:
        """Speech probability of every 32 ms frame of each clip (16 kHz mono float32)."""
        torch = self._torch
        longest = max(len(w) for w in waveforms)
        batch = np.zeros((len(waveforms), longest), dtype=np.float32)
        for row, waveform in enumerate(waveforms):
            batch[row, : len(waveform)] = waveform
        with self._lock, torch.inference_mode():
            probs = self.model.audio_forward(torch.from_numpy(batch), SAMPLING_RATE).numpy()
            self.model.reset_states()
        # Frames after a clip's end only saw zero padding: the model is causal, so they are dropped
        # and the frames before them are exactly what the clip alone would give.
        return [probs[row, : math.ceil(len(w) / FRAME_SAMPLES)] for row, w in enumerate(waveforms)]

    def featurize(self, waveform: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(waveform, dtype=np.float32)

    def collate(self, features):
        return [(list(range(len(features))), list(features))]

    def forward(self, batch: list[np.ndarray]) -> np.ndarray:
        scores = np.empty((len(batch), 2), dtype=np.float32)
        for row, frames in enumerate(self.frame_probabilities(batch)):
            evidence = np.sort(frames)[-SPEECH_EVIDENCE_FRAMES:]
            scores[row, 0] = float(evidence.mean())
            scores[row, 1] = 1.0 - scores[row, 0]
        return scores
