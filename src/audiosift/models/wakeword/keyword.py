"""A custom keyword trained by ``audiosift train-keyword``: a small head on openWakeWord's frozen
front end, loaded from its folder as a :class:`FrameStreamBackend` detector.

The folder holds ``keyword.json`` (the manifest: phrase, threshold, front end, head shape, training
recipe, held-out metrics) and ``head.npz`` (the head's weights as plain arrays; no pickles). The
front end (melspectrogram + speech embedding, Apache-2.0) comes from the installed wheels as for
the pre-trained words; streaming is :class:`OpenWakeWordStream` unchanged, so scores are
chunk-size invariant and frame times are openWakeWord's.

The head is a few small MLPs on the flattened 16 x 96 embedding window, each
``relu(x W1 + b1) -> relu(. W2 + b2) -> sigmoid(. w3 + b3)``, in numpy (a few hundred thousand
multiply-adds per 80 ms frame: small next to the front end). A frame's score is the MLPs' mean
probability, averaged over the last ``smoothing_frames`` frames (the manifest says how many; a
keyword stays in view for several frames, a chance match in running speech mostly for one).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from audiosift.errors import ModelError, UnsupportedModelError
from audiosift.models.wakeword import catalog
from audiosift.models.wakeword.openwakeword import EMBEDDING_SIZE, HEAD_EMBEDDINGS, OpenWakeWordBackend, RuntimeThreads

MANIFEST = "keyword.json"
WEIGHTS = "head.npz"
FORMAT = "audiosift-keyword/2"  # bumped when the folder layout or the head's arithmetic changes
# /1: one MLP (weights w0, b0, ...), no smoothing; /2: MLPs h0_w0, h0_b0, h1_w0, ... and smoothing.
READABLE_FORMATS = ("audiosift-keyword/1", FORMAT)
MAX_SMOOTHING_FRAMES = 16


def is_keyword_folder(folder: Path) -> bool:
    """The registry's test: a trained-keyword folder has our manifest."""
    return (Path(folder) / MANIFEST).is_file()


def read_manifest(folder: Path) -> dict:
    path = Path(folder) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ModelError(f"{path}: not a readable keyword manifest ({error}); retrain with "
                         f"`audiosift train-keyword`") from error
    if not isinstance(manifest, dict) or manifest.get("format") not in READABLE_FORMATS:
        raise UnsupportedModelError(f"{path}: expected format {' or '.join(map(repr, READABLE_FORMATS))}, got "
                                    f"{manifest.get('format') if isinstance(manifest, dict) else manifest!r}")
    missing = [key for key in ("phrase", "label", "threshold") if key not in manifest]
    threshold = manifest.get("threshold")
    if missing or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise ModelError(f"{path}: the manifest needs phrase, label and a threshold in [0, 1] "
                         f"(missing: {', '.join(missing) or 'none'}; threshold {threshold!r}); retrain it")
    head = manifest.get("head") if isinstance(manifest.get("head"), dict) else {}
    if manifest["format"] != FORMAT:  # /1: one head, no smoothing
        return {**manifest, "smoothing_frames": 1, "head": {**head, "count": 1}}
    smoothing, count = manifest.get("smoothing_frames"), head.get("count")
    if type(smoothing) is not int or not 1 <= smoothing <= MAX_SMOOTHING_FRAMES or type(count) is not int or count < 1:
        raise ModelError(f"{path}: the manifest needs smoothing_frames (a whole number of frames from 1 to "
                         f"{MAX_SMOOTHING_FRAMES}) and head.count (how many heads), got {smoothing!r} and "
                         f"{count!r}; retrain it")
    return manifest


def smoothed(probabilities: np.ndarray, frames: int) -> np.ndarray:
    """The mean of each run of ``frames`` consecutive values: ``(n + frames - 1,)`` -> ``(n,)``
    (each mean from the same values in the same order however a stream was chunked)."""
    if frames == 1:
        return probabilities
    return np.lib.stride_tricks.sliding_window_view(probabilities, frames).mean(axis=1).astype(np.float32, copy=False)


def smoothed_after(recent: np.ndarray, probabilities: np.ndarray, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """``probabilities`` (new frames) smoothed after the ``frames - 1`` ``recent`` ones: returns the
    new frames' scores and the recent probabilities to carry on (the one mechanism of both a
    stream and :func:`clip_scores`)."""
    joined = np.concatenate([recent, probabilities]).astype(np.float32, copy=False)
    return smoothed(joined, frames), joined[len(joined) - len(recent):]


def clip_scores(head, windows: np.ndarray, frames: int, initial_window: np.ndarray) -> np.ndarray:
    """A clip's frame scores as a stream from its start gives them: the ``frames - 1`` frames
    before its first score the stream's window of initial embeddings only (``initial_window``)."""
    if len(windows) == 0:
        return np.zeros(0, np.float32)
    start = head(np.asarray(initial_window, np.float32).reshape(1, -1))[0]
    probabilities = head(np.asarray(windows, np.float32).reshape(len(windows), -1))
    return smoothed_after(np.full(frames - 1, start, np.float32), probabilities, frames)[0]


class MlpHead:
    """The head's arithmetic on ``(n, 16, 96)`` windows -> ``(n,)`` probabilities."""

    def __init__(self, weights: dict[str, np.ndarray]):
        self.layers = []
        index = 0
        while f"w{index}" in weights:
            self.layers.append((np.asarray(weights[f"w{index}"], np.float32), np.asarray(weights[f"b{index}"], np.float32)))
            index += 1
        if not self.layers or self.layers[0][0].shape[0] != HEAD_EMBEDDINGS * EMBEDDING_SIZE:
            raise UnsupportedModelError(f"the keyword head must take {HEAD_EMBEDDINGS}x{EMBEDDING_SIZE} inputs "
                                        f"(layers w0, b0, w1, ...); got {sorted(weights)}")

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        x = np.asarray(windows, np.float32).reshape(len(windows), -1)
        for weight, bias in self.layers[:-1]:
            x = np.maximum(x @ weight + bias, 0.0)
        weight, bias = self.layers[-1]
        logits = (x @ weight + bias).reshape(-1)
        return 1.0 / (1.0 + np.exp(-np.clip(logits, -60.0, 60.0)))

    def arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for index, (weight, bias) in enumerate(self.layers):
            out[f"w{index}"], out[f"b{index}"] = weight, bias
        return out


class MeanHead:
    """Several MLPs' mean probability: trained from different seeds, their chance mistakes differ
    (docs/wake-words.md has the measurements)."""

    def __init__(self, heads: list[MlpHead]):
        self.heads = list(heads)

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        flat = np.ascontiguousarray(windows, np.float32).reshape(len(windows), -1)  # once, not per head
        return np.mean([head(flat) for head in self.heads], axis=0).astype(np.float32, copy=False)

    def arrays(self) -> dict[str, np.ndarray]:
        return {f"h{j}_{name}": array for j, head in enumerate(self.heads) for name, array in head.arrays().items()}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], count: int, source: Path, format_1: bool = False) -> "MeanHead":
        """``count`` heads' weights as saved: ``h0_w0, h0_b0, h1_w0, ...``, or (``format_1``) a format
        /1 folder's one MLP ``w0, b0, ...``."""
        if format_1:
            return cls([MlpHead(arrays)])
        heads = []
        for index in range(count):
            prefix = f"h{index}_"
            layers = {name[len(prefix):]: array for name, array in arrays.items() if name.startswith(prefix)}
            if not layers:
                raise ModelError(f"{source}: the manifest says {count} heads, but there are no weights {prefix}w0, "
                                 f"{prefix}b0, ... (found {', '.join(sorted(arrays)) or 'none'}); retrain it")
            heads.append(MlpHead(layers))
        return cls(heads)


class FrontEnd(OpenWakeWordBackend):
    """openWakeWord's front end alone; ``head`` maps head windows to scores (one label)."""

    def __init__(self, frontend: str = "tflite", head=None, label: str = "keyword", model_id: str | None = None):
        self.words = [catalog.word_of(label)]
        self.labels = [label]
        self.frontend = frontend
        self.model_id = model_id or f"keyword:{label}"
        self.head = head
        self.thread_count = 1
        self.threads = RuntimeThreads(self)
        self._lock = threading.Lock()
        self.load_models(1)

    def load_models(self, threads: int) -> None:
        with self._lock:
            self.load_front_end(threads)
            self.heads = []

    def score_windows(self, mel_rows, history):
        windows, history = self.head_windows(mel_rows, history)
        return self.head(windows), history


class WindowCapture:
    """A head that returns its inputs: streams then yield each frame's flattened 16 x 96 window
    (what training learns from, computed exactly as the detector will see it)."""

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        return np.asarray(windows, np.float32).reshape(len(windows), -1).copy()


class WindowExtractor(FrontEnd):
    """A front end whose streams return ``(frames, 1536)`` head windows instead of scores, the
    start-up frames' too (a smoothed score after them averages over them)."""

    startup_frames = 0

    def __init__(self, frontend: str = "tflite"):
        super().__init__(frontend, head=WindowCapture())


def window_extractor(frontend: str = "tflite") -> WindowExtractor:
    return WindowExtractor(frontend)


class KeywordBackend(FrontEnd):
    task = "wake-word detection"
    multi_label = True
    licence = ("trained keyword head: yours; melspectrogram and speech-embedding models (openWakeWord's "
               "front end): Apache-2.0")

    def __init__(self, folder: str | Path, model_id: str | None = None):
        folder = Path(folder)
        self.manifest = read_manifest(folder)
        try:
            with np.load(folder / WEIGHTS, allow_pickle=False) as arrays:
                head = MeanHead.from_arrays({name: arrays[name] for name in arrays.files}, self.manifest["head"]["count"],
                                            folder / WEIGHTS, format_1=self.manifest["format"] != FORMAT)
        except (OSError, ValueError, KeyError) as error:
            raise ModelError(f"{folder / WEIGHTS}: unreadable keyword weights ({error})") from error
        self.default_threshold = float(self.manifest["threshold"])
        self.smoothing_frames = self.manifest["smoothing_frames"]
        super().__init__(self.manifest.get("frontend", "tflite"), head=head,
                         label=self.manifest["label"], model_id=model_id or str(folder))
        # The score of the window of initial embeddings only: what a stream's smoothing starts from.
        self.start_probability = float(head(super().initial_history().reshape(1, -1))[0])

    def initial_history(self):
        """The embeddings, and the probabilities of the ``smoothing_frames - 1`` frames before the
        next (at a stream's start, the initial window's)."""
        return super().initial_history(), np.full(self.smoothing_frames - 1, self.start_probability, np.float32)

    def score_windows(self, mel_rows, history):
        embeddings, recent = history
        windows, embeddings = self.head_windows(mel_rows, embeddings)
        scores, recent = smoothed_after(recent, self.head(windows), self.smoothing_frames)
        return scores[:, None], (embeddings, recent)

    def identity(self) -> dict:
        return {"model_id": self.model_id, "backend": type(self).__name__, "phrase": self.manifest["phrase"],
                "trained_at": self.manifest.get("trained_at"), "frontend": self.frontend}

    def describe(self) -> dict:
        return {**super().describe(), "phrase": self.manifest["phrase"], "smoothing_frames": self.smoothing_frames,
                "heldout": self.manifest.get("heldout")}


def build_keyword(request):
    """Registry build function for a folder made by ``audiosift train-keyword``."""
    return KeywordBackend(request.location, model_id=request.model_id)
