"""A custom keyword trained by ``audiosift train-keyword``: a small head on openWakeWord's frozen
front end, loaded from its folder as a :class:`FrameStreamBackend` detector.

The folder holds ``keyword.json`` (the manifest: phrase, threshold, front end, head shape, training
recipe, held-out metrics) and ``head.npz`` (the head's weights as plain arrays; no pickles). The
front end (melspectrogram + speech embedding, Apache-2.0) comes from the installed wheels as for
the pre-trained words; streaming is :class:`OpenWakeWordStream` unchanged, so scores are
chunk-size invariant and frame times are openWakeWord's.

The head is a small MLP on the flattened 16 x 96 embedding window:
``relu(x W1 + b1) -> relu(. W2 + b2) -> sigmoid(. w3 + b3)``, in numpy (a few thousand
multiply-adds per 80 ms frame: negligible next to the front end).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from audiosift.errors import ModelError, UnsupportedModelError
from audiosift.models.wakeword import catalog
from audiosift.models.wakeword.openwakeword import (
    EMBEDDING_SIZE, HEAD_EMBEDDINGS, MEL_BANDS, MEL_WINDOW, LiteRtModel, OnnxModel, OpenWakeWordBackend,
    RuntimeThreads)

MANIFEST = "keyword.json"
WEIGHTS = "head.npz"
FORMAT = "audiosift-keyword/1"  # bumped when the folder layout or the head's arithmetic changes


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
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise UnsupportedModelError(f"{path}: expected format {FORMAT!r}, got "
                                    f"{manifest.get('format') if isinstance(manifest, dict) else manifest!r}")
    missing = [key for key in ("phrase", "label", "threshold") if key not in manifest]
    threshold = manifest.get("threshold")
    if missing or not isinstance(threshold, (int, float)) or not 0.0 <= threshold <= 1.0:
        raise ModelError(f"{path}: the manifest needs phrase, label and a threshold in [0, 1] "
                         f"(missing: {', '.join(missing) or 'none'}; threshold {threshold!r}); retrain it")
    return manifest


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
        if self.frontend == "onnx":
            folder, suffix, runtime = catalog.onnx_frontend_dir(), ".onnx", OnnxModel
        elif self.frontend == "tflite":
            folder, suffix, runtime = catalog.openwakeword_dir(), ".tflite", LiteRtModel
        else:
            raise UnsupportedModelError(f"unknown front end {self.frontend!r}: expected 'tflite' or 'onnx'")
        with self._lock:
            self.melspectrogram = runtime(folder / f"melspectrogram{suffix}", threads)
            self.embedding = runtime(folder / f"embedding_model{suffix}", threads)
            self.heads = []
            self.thread_count = threads
            ones = np.ones((1, MEL_WINDOW, MEL_BANDS, 1), dtype=np.float32)
            self.initial_embedding = self.embedding(ones).reshape(EMBEDDING_SIZE)

    def score_windows(self, mel_windows, history):
        windows, history = self.head_windows(mel_windows, history)
        return self.head(windows), history


class WindowCapture:
    """A head that returns its inputs: streams then yield each frame's flattened 16 x 96 window
    (what training learns from, computed exactly as the detector will see it)."""

    def __call__(self, windows: np.ndarray) -> np.ndarray:
        return np.asarray(windows, np.float32).reshape(len(windows), -1).copy()


def window_extractor(frontend: str = "tflite") -> FrontEnd:
    """A front end whose streams return ``(frames, 1536)`` head windows instead of scores."""
    return FrontEnd(frontend, head=WindowCapture())


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
                head = MlpHead({name: arrays[name] for name in arrays.files})
        except (OSError, ValueError, KeyError) as error:
            raise ModelError(f"{folder / WEIGHTS}: unreadable keyword weights ({error})") from error
        self.default_threshold = float(self.manifest["threshold"])
        super().__init__(self.manifest.get("frontend", "tflite"), head=lambda w: head(w)[:, None],
                         label=self.manifest["label"], model_id=model_id or str(folder))
        self.mlp = head

    def identity(self) -> dict:
        return {"model_id": self.model_id, "backend": type(self).__name__, "phrase": self.manifest["phrase"],
                "trained_at": self.manifest.get("trained_at"), "frontend": self.frontend}

    def describe(self) -> dict:
        return {**super().describe(), "phrase": self.manifest["phrase"],
                "heldout": self.manifest.get("heldout")}


def build_keyword(request):
    """Registry build function for a folder made by ``audiosift train-keyword``."""
    return KeywordBackend(request.location, model_id=request.model_id)
