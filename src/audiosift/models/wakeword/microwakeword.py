"""microWakeWord's pre-trained wake words as a :class:`FrameStreamBackend`.

microWakeWord (Apache-2.0) runs its own pipeline, unlike openWakeWord's: a micro-speech front end
(``pymicro_features``: 40 bands over 30 ms windows, every 10 ms) feeds small streaming
convolutional models that keep state between calls and take 3 feature rows per step, so there is
one score per 30 ms. Each model's json gives its ``probability_cutoff`` (the detection threshold)
and ``sliding_window_size``: the score is the mean of the last 5 step probabilities, 0 until 5 exist.

The models run through pymicro-wakeword's own ``MicroWakeWord`` (ctypes over the TensorFlow Lite C
library inside its wheel, no TensorFlow). A stream owns one model instance per word, because the
models' state is the stream's state. Audio goes to the front end 10 ms at a time whatever the
chunking, so scores are chunk-size invariant.
"""

from __future__ import annotations

import json

import numpy as np

from audiosift.errors import ModelUnavailableError
from audiosift.models.base import FrameStream, FrameStreamBackend
from audiosift.models.wakeword import catalog

FEATURE_STEP_SAMPLES = 160  # the front end's 10 ms hop at 16 kHz
FEATURE_WINDOW_SAMPLES = 480  # its 30 ms window: the first feature row needs 480 samples
MODEL_STRIDE = 3  # feature rows per model step (every bundled model's input is [1, 3, 40])
FRAME_SAMPLES = MODEL_STRIDE * FEATURE_STEP_SAMPLES  # 480: one score per 30 ms
# Step j ends at feature row 3j + 2, which ends at sample 480 + 160 * (3j + 2) = 800 + 480 j.
FIRST_FRAME_END_SAMPLES = FEATURE_WINDOW_SAMPLES + (MODEL_STRIDE - 1) * FEATURE_STEP_SAMPLES
INT16_MAX = 32767


def _runtime():
    try:
        from pymicro_features import MicroFrontend
        from pymicro_wakeword import MicroWakeWord
    except ImportError as error:
        raise ModelUnavailableError(f"microWakeWord models need pymicro-wakeword: {catalog.WAKE_WORD_PIP}") from error
    return MicroFrontend, MicroWakeWord


def to_int16(samples: np.ndarray) -> np.ndarray:
    """Float audio in [-1, 1) (or int16 as it is) -> int16, rounding as the int16 -> float / 32768
    conversion inverts exactly."""
    samples = np.asarray(samples)
    if samples.dtype == np.int16:
        return samples.reshape(-1)
    scaled = np.round(samples.astype(np.float64).reshape(-1) * 32768.0)
    return np.clip(scaled, -INT16_MAX - 1, INT16_MAX).astype(np.int16)


class MicroWakeWordBackend(FrameStreamBackend):
    task = "wake-word detection"
    sampling_rate = catalog.SAMPLING_RATE
    frame_samples = FRAME_SAMPLES
    multi_label = True
    min_samples = FIRST_FRAME_END_SAMPLES
    # Not a model fact (the models are streaming, with state): the span an event reports before the
    # step that fired, the same 1.28 s as openWakeWord's head window, which a spoken wake word fits.
    window_seconds = 1.28
    licence = catalog.MICROWAKEWORD_LICENCE

    def __init__(self, words: list[str] | None = None, model_id: str | None = None):
        self.words = catalog.choose_words(words, catalog.MICROWAKEWORD_MODELS, "microWakeWord")
        self.labels = [catalog.label_of(word) for word in self.words]
        self.model_id = model_id or f"builtin:microwakeword/{','.join(self.words)}"
        folder = catalog.microwakeword_dir()
        self.config_paths = [folder / f"{word}.json" for word in self.words]
        configs = [json.loads(path.read_text())["micro"] for path in self.config_paths]
        self.cutoffs = {label: float(c["probability_cutoff"]) for label, c in zip(self.labels, configs)}
        self.sliding_windows = {label: int(c["sliding_window_size"]) for label, c in zip(self.labels, configs)}
        # One threshold for the backend: the words' cutoffs differ (0.85-0.97), so a detector uses
        # ``thresholds`` per label; this is the strictest, for callers that take a single number.
        self.default_threshold = max(self.cutoffs.values())
        self.thresholds = dict(self.cutoffs)
        _runtime()  # fail now, not at the first stream, when the runtime is missing

    def identity(self) -> dict:
        return {**super().identity(), "words": list(self.words)}

    def describe(self) -> dict:
        return {**super().describe(), "licence": self.licence, "thresholds": dict(self.thresholds)}

    def frame_end_seconds(self, index: int) -> float:
        return (FIRST_FRAME_END_SAMPLES + index * FRAME_SAMPLES) / self.sampling_rate

    def new_stream(self) -> "MicroWakeWordStream":
        return MicroWakeWordStream(self)


class MicroWakeWordStream(FrameStream):
    def __init__(self, backend: MicroWakeWordBackend):
        MicroFrontend, MicroWakeWord = _runtime()
        self.backend = backend
        self._frontend = MicroFrontend()
        self._models = [MicroWakeWord.from_config(path) for path in backend.config_paths]
        for model in self._models:
            if model.stride != MODEL_STRIDE:  # every bundled model takes 3 rows; a new one might not
                raise ModelUnavailableError(f"microWakeWord model {model.id!r} takes {model.stride} feature "
                                            f"rows per step; audiosift expects {MODEL_STRIDE}")
        self._pending = np.zeros(0, dtype=np.int16)
        self._rows = 0

    def reset(self) -> None:
        self._frontend.reset()
        for model in self._models:
            model.reset()  # reloads the model: its streaming state lives in the interpreter
        self._pending = np.zeros(0, dtype=np.int16)
        self._rows = 0

    def push(self, samples: np.ndarray) -> np.ndarray:
        audio = np.concatenate([self._pending, to_int16(samples)])
        steps = len(audio) // FEATURE_STEP_SAMPLES
        self._pending = audio[steps * FEATURE_STEP_SAMPLES:]
        scores = []
        for step in range(steps):
            chunk = audio[step * FEATURE_STEP_SAMPLES: (step + 1) * FEATURE_STEP_SAMPLES]
            result = self._frontend.process_samples(chunk.tobytes())
            if not result.features:  # the first 30 ms window is not full yet
                continue
            row = np.asarray(result.features, dtype=np.float32).reshape(1, 1, -1)
            self._rows += 1
            probabilities = [model.process_streaming_prob(row) for model in self._models]
            if self._rows % MODEL_STRIDE == 0:  # the models ran (they buffer rows until they have 3)
                scores.append(probabilities)
        return np.asarray(scores, dtype=np.float32).reshape(len(scores), len(self._models))

    def flush(self) -> np.ndarray:
        self._pending = np.zeros(0, dtype=np.int16)
        return np.zeros((0, len(self._models)), dtype=np.float32)
