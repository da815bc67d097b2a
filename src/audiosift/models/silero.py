"""The offline ``speech`` preset: Silero VAD (MIT), as shipped inside the ``silero-vad`` wheel.

Its ONNX file runs on onnxruntime, or its TorchScript model on torch (the package's ``read_audio``
needs torchaudio; we never call it); either way numpy goes in and out. The model gives one speech
probability per 32 ms frame (512 samples at 16 kHz); it is a
recurrent model, so it is a frame-streaming backend: each :class:`SileroStream` owns a model
instance whose state carries from frame to frame exactly as in Silero's ``audio_forward``.

As a clip classifier it returns two labels. The clip's ``speech`` score is the mean of its
``SPEECH_EVIDENCE_FRAMES`` most speech-like frames (all frames if the clip is shorter): a clip
scores high when it holds at least ~0.25 s of confident speech, however much silence surrounds
it, and a single spurious frame cannot make it score high. ``no_speech`` is ``1 - speech``.
"""

from __future__ import annotations

import importlib.util
import math
import threading
import warnings
from pathlib import Path

import numpy as np

from audiosift.errors import ModelUnavailableError
from audiosift.models.base import FrameStream, FrameStreamBackend
from audiosift.models.torch_threads import TORCH_THREADS

SAMPLING_RATE = 16000
FRAME_SAMPLES = 512  # the model's fixed chunk at 16 kHz
FRAME_SECONDS = FRAME_SAMPLES / SAMPLING_RATE  # 0.032 s
# 0.25 s of speech (a short word) is 8 frames of 32 ms: ceil(0.25 / 0.032).
SPEECH_EVIDENCE_FRAMES = math.ceil(0.25 / FRAME_SECONDS)
LABELS = ["speech", "no_speech"]


def silero_model_path() -> Path:
    """The wheel's TorchScript file; found without importing the package, whose ``__init__`` imports
    torch (so the ONNX file beside it runs where only onnxruntime is installed)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailableError(
            "the 'speech' preset needs the silero-vad package: pip install 'audiosift[torch]' (or "
            "'silero-vad==6.2.3' without its audio/all extras, which pull torchaudio)")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "silero_vad.jit"


def load_silero_model():
    """A fresh Silero instance (each stream owns one: the model keeps recurrent state), numpy in and
    out: the wheel's ONNX file on onnxruntime where that is installed (1.8x faster a frame when
    streaming, as fast on batched clips, equal within 1e-6: :mod:`audiosift.models.silero_onnx`),
    else its TorchScript model."""
    try:
        from audiosift.models.silero_onnx import SileroOnnx, onnx_model_path

        path = onnx_model_path(silero_model_path())
        if path.is_file():
            return SileroOnnx(path)
    except ImportError:  # no onnxruntime: TorchScript
        pass
    return SileroTorchScript(silero_model_path())


class SileroTorchScript:
    """The TorchScript model behind the same numpy calls as :class:`SileroOnnx`."""

    threads = TORCH_THREADS

    def __init__(self, path: Path):
        try:
            import torch
        except ImportError as error:
            raise ModelUnavailableError("the 'speech' preset runs on onnxruntime or torch, and neither is "
                                        "installed: pip install 'audiosift[onnx]' or 'audiosift[torch]'") from error
        self._torch = torch
        with warnings.catch_warnings():  # torch 2.13 deprecates jit.load; the wheel ships only TorchScript
            warnings.simplefilter("ignore", DeprecationWarning)
            self.model = torch.jit.load(str(path), map_location="cpu").eval()

    def reset_states(self) -> None:
        self.model.reset_states()

    def __call__(self, frame: np.ndarray, sampling_rate: int = SAMPLING_RATE) -> np.ndarray:
        with self._torch.inference_mode():
            return self.model(self._torch.from_numpy(np.ascontiguousarray(frame, np.float32)), sampling_rate).numpy()

    def audio_forward(self, batch: np.ndarray, sampling_rate: int = SAMPLING_RATE) -> np.ndarray:
        with self._torch.inference_mode():
            return self.model.audio_forward(self._torch.from_numpy(batch), sampling_rate).numpy()


def build(request) -> "SileroSpeechBackend":
    """The registry's builder (model id ``builtin:silero-vad``)."""
    return SileroSpeechBackend()


class SileroStream(FrameStream):
    """16 kHz mono samples, in chunks of any size -> ``(frames, 2)`` [speech, no_speech] per 32 ms frame."""

    def __init__(self, model=None):
        self.model = model if model is not None else load_silero_model()
        self.reset()

    def reset(self) -> None:
        self.model.reset_states()
        self._pending = np.zeros(0, dtype=np.float32)
        self.frames_done = 0

    def speech_probabilities(self, samples: np.ndarray) -> np.ndarray:
        """Speech probability of each frame ``samples`` completes (possibly none)."""
        pending = np.concatenate([self._pending, np.asarray(samples, dtype=np.float32)])
        complete = len(pending) // FRAME_SAMPLES
        self._pending = pending[complete * FRAME_SAMPLES :]
        return self._run(pending[: complete * FRAME_SAMPLES])

    def flush_probabilities(self) -> np.ndarray:
        """The last partial frame, zero-padded as Silero pads a signal's end; then nothing is pending."""
        if not len(self._pending):
            return np.zeros(0, dtype=np.float32)
        frame = np.zeros(FRAME_SAMPLES, dtype=np.float32)
        frame[: len(self._pending)] = self._pending
        self._pending = np.zeros(0, dtype=np.float32)
        return self._run(frame)

    def push(self, samples: np.ndarray) -> np.ndarray:
        return _two_labels(self.speech_probabilities(samples))

    def flush(self) -> np.ndarray:
        return _two_labels(self.flush_probabilities())

    def _run(self, samples: np.ndarray) -> np.ndarray:
        count = len(samples) // FRAME_SAMPLES
        probs = np.empty(count, dtype=np.float32)
        frames = np.ascontiguousarray(samples, dtype=np.float32).reshape(count, FRAME_SAMPLES)
        for i in range(count):  # recurrent: one frame at a time, state carried inside the model
            probs[i] = np.asarray(self.model(frames[i : i + 1], SAMPLING_RATE)).item()  # (1, 1)
        self.frames_done += count
        return probs


def _two_labels(speech: np.ndarray) -> np.ndarray:
    return np.stack([speech, 1.0 - speech], axis=1).astype(np.float32)


class SileroSpeechBackend(FrameStreamBackend):
    model_id = "builtin:silero-vad"
    labels = LABELS
    task = "speech / no_speech (voice activity)"
    sampling_rate = SAMPLING_RATE
    frame_samples = FRAME_SAMPLES
    min_samples = FRAME_SAMPLES
    default_window_seconds = 1.0  # long recordings: speech or not, second by second
    # A whole clip is scored in one batched call; past 5 minutes (4.8 MB at 16 kHz, ~9400 frames) a
    # recording belongs to --window or --segments, which stream it: a 1-hour file decoded whole
    # peaked at 1.08 GB through the CLI.
    max_seconds = 300.0
    hop_seconds = 0.5
    licence = "MIT (Silero VAD)"

    def __init__(self, device=None):
        # Always the CPU: a 1.8 MB model, where the GPU would only add copies.
        self.model = load_silero_model()
        self.threads = self.model.threads  # the runtime it landed on
        self._lock = threading.Lock()  # the clip model keeps recurrent state between calls

    def new_stream(self) -> SileroStream:
        return SileroStream()

    def pool_frames(self, frame_scores: np.ndarray) -> np.ndarray:
        speech = float(np.sort(frame_scores[:, 0])[-SPEECH_EVIDENCE_FRAMES:].mean()) if len(frame_scores) else 0.0
        return np.array([speech, 1.0 - speech], dtype=np.float32)

    def frame_probabilities(self, waveforms: list[np.ndarray]) -> list[np.ndarray]:
        """Speech probability of every 32 ms frame of each clip, all clips in one batched call."""
        longest = max(len(w) for w in waveforms)
        batch = np.zeros((len(waveforms), longest), dtype=np.float32)
        for row, waveform in enumerate(waveforms):
            batch[row, : len(waveform)] = waveform
        with self._lock:
            probs = np.asarray(self.model.audio_forward(batch, SAMPLING_RATE))
            self.model.reset_states()
        # Frames after a clip's end only saw zero padding: the model is causal, so they are dropped
        # and the frames before them are exactly what the clip alone would give.
        return [probs[row, : math.ceil(len(w) / FRAME_SAMPLES)] for row, w in enumerate(waveforms)]

    def collate(self, features):
        return [(list(range(len(features))), list(features))]

    def forward(self, batch: list[np.ndarray]) -> np.ndarray:
        # One batched audio_forward for all clips: the same frames a stream gives, ~10x faster.
        return np.stack([self.pool_frames(_two_labels(frames)) for frames in self.frame_probabilities(batch)])
