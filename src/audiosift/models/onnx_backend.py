"""Exported models (``audiosift export``) run on ONNX Runtime, through the same engine as torch models.

An export folder holds the ONNX graph(s), the source model's feature extractor (and tokenizer, for
CLAP) and a manifest (``audiosift-onnx.json``, :mod:`audiosift.models.onnx_export` writes it). The
backends here reuse the torch backends' feature making and batching unchanged (the transformers
feature extractors are numpy), so inputs, length grouping and padding with attention masks are the
same; only ``forward`` differs. Nothing here imports torch.

Threads: an ONNX Runtime session's intra-op thread count is fixed when the session is made, while
the engine splits cores among batches per OS thread (:func:`~audiosift.inference.cpu_threads.map_splitting_cores`
sets a count in each worker). So :data:`ORT_THREADS` keeps the count per OS thread, and a backend
keeps one session per count, made when first asked for: two batches side by side each run on a
one-thread session, a lone batch on the all-cores one. Each session holds its own copy of the
weights (two copies of a 300M-parameter fp32 model are 2.4 GB).
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import threading
from pathlib import Path

import numpy as np
import onnxruntime  # noqa: F401  the onnx extra, checked here: the registry imports this module only to load an export

from audiosift.errors import UnsupportedModelError, UsageError
from audiosift.models.base import ThreadControl
from audiosift.models import ort_session
from audiosift.models.clap import ClapBackend, framewise_log_mel
from audiosift.models.quiet import quietly
from audiosift.models.transformers_backend import TransformersBackend

MANIFEST = "audiosift-onnx.json"
FORMAT_VERSION = 1  # bump when the folder layout or the graphs' inputs/outputs change
ORT_TYPES = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32,
             "tensor(bool)": np.bool_, "tensor(double)": np.float64}


def _cores() -> int:
    """Cores this process may run on (what ONNX Runtime would use by default on a small machine)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


class OrtThreads(ThreadControl):
    """ONNX Runtime's intra-op threads for the calling OS thread (see module docstring)."""

    name = "onnxruntime"

    def __init__(self):
        self._local = threading.local()

    def get(self) -> int:
        return getattr(self._local, "count", None) or _cores()

    def set(self, count: int) -> None:
        self._local.count = max(1, int(count))


ORT_THREADS = OrtThreads()  # one instance: the engine's worker pools are keyed by its name


def read_manifest(folder: str | os.PathLike) -> dict:
    path = Path(folder) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise UnsupportedModelError(f"{path} is not a readable audiosift export manifest ({error}): "
                                    f"re-export the model with `audiosift export`") from error
    if manifest.get("format") != FORMAT_VERSION:
        raise UnsupportedModelError(
            f"{folder} was exported in format {manifest.get('format')!r}; this audiosift reads format "
            f"{FORMAT_VERSION}: re-export it with this version's `audiosift export`")
    return manifest


# transformers 5 marks these extractors as needing torch (``@requires``), though without torchaudio they
# compute in numpy (AST then pads its fbank with torch; :func:`_ast_fbank` does the same in numpy).
# Where torch is absent they are imported from their modules directly: the real classes, not stand-ins.
TORCH_MARKED_EXTRACTORS = {
    "ASTFeatureExtractor": "transformers.models.audio_spectrogram_transformer.feature_extraction_audio_spectrogram_transformer",
    "ClapFeatureExtractor": "transformers.models.clap.feature_extraction_clap",
}


@quietly  # as the torch loaders: no mel-filter warnings for library users either
def load_feature_extractor(folder: Path):
    """The export's feature extractor; without torch installed, the numpy one of the same class."""
    from transformers import AutoFeatureExtractor
    from transformers.utils import is_torch_available

    if is_torch_available():
        return AutoFeatureExtractor.from_pretrained(folder, trust_remote_code=False)
    name = json.loads((folder / "preprocessor_config.json").read_text()).get("feature_extractor_type")
    if name not in TORCH_MARKED_EXTRACTORS:
        return AutoFeatureExtractor.from_pretrained(folder, trust_remote_code=False)
    extractor = getattr(importlib.import_module(TORCH_MARKED_EXTRACTORS[name]), name).from_pretrained(folder)
    if name == "ASTFeatureExtractor":
        extractor._extract_fbank_features = functools.partial(_ast_fbank, extractor)
    return extractor


def _ast_fbank(extractor, waveform: np.ndarray, max_length: int) -> np.ndarray:
    """ASTFeatureExtractor's numpy fbank (its no-torchaudio branch), zero-padded or cut to ``max_length``
    frames in numpy instead of torch: the same numbers."""
    from transformers.audio_utils import spectrogram

    fbank = spectrogram(np.squeeze(waveform), extractor.window, frame_length=400, hop_length=160, fft_length=512,
                        power=2.0, center=False, preemphasis=0.97, mel_filters=extractor.mel_filters, log_mel="log",
                        mel_floor=1.192092955078125e-07, remove_dc_offset=True).T
    if len(fbank) < max_length:
        return np.pad(fbank, ((0, max_length - len(fbank)), (0, 0)))
    return fbank[:max_length]


class OrtGraph:
    """One ONNX graph and its sessions, one per intra-op thread count (made on first use)."""

    def __init__(self, path: Path):
        self.path = str(path)
        self._sessions: dict[int, object] = {}
        self._lock = threading.Lock()
        first = self.session()
        self.inputs = {i.name: ORT_TYPES.get(i.type, np.float32) for i in first.get_inputs()}
        self.shapes = {i.name: i.shape for i in first.get_inputs()}
        self.output_names = [o.name for o in first.get_outputs()]

    def session(self):
        count = ORT_THREADS.get()
        with self._lock:
            session = self._sessions.get(count)
            if session is None:
                session = ort_session.session(self.path, count)  # batches run side by side: engine workers
                self._sessions[count] = session
            return session

    def run(self, feeds: dict[str, np.ndarray]) -> np.ndarray:
        """The first output for ``feeds``; inputs the graph does not take (dropped at export because the
        model ignores them, e.g. CLAP-unfused's ``is_longer``) are left out, the rest cast to its types."""
        inputs = {name: np.ascontiguousarray(feeds[name], dtype=kind) for name, kind in self.inputs.items()}
        return self.session().run(self.output_names[:1], inputs)[0]


def _check_runtime_options(options, manifest: dict, location: str) -> None:
    if options.device not in ("auto", "cpu"):
        raise UsageError(f"{location} is an ONNX export, which runs on the CPU (onnxruntime's CPU provider); "
                         f"got device {options.device!r}: use device 'cpu' or 'auto'")
    if options.dtype in ("float16", "bfloat16"):
        raise UsageError(f"{location} is an ONNX export ({manifest['precision']}); dtype {options.dtype!r} "
                         f"does not apply to it: use float32, or int8 for an export made with --int8")
    if options.dtype == "int8" and manifest["precision"] != "int8":
        raise UsageError(f"dtype int8 asked for, but {location} was exported in {manifest['precision']}: "
                         f"export it again with `audiosift export ... --int8`")
    if getattr(options, "backend", "auto") == "torch":
        raise UsageError(f"{location} is an ONNX export and runs on onnxruntime; for torch, load the "
                         f"source model ({manifest['source']['model_id']!r}) instead")


def build(request):
    """The registry's builder for an export folder (kind ``onnx``)."""
    manifest = read_manifest(request.location)
    _check_runtime_options(request.options, manifest, request.model_id)
    if manifest["kind"] == "clap":
        return OnnxClapBackend(request.location, request.model_id, manifest)
    return OnnxClassifierBackend(request.location, request.model_id, manifest)


def _identity(backend, manifest: dict) -> dict:
    source = manifest["source"]
    return {"model_id": backend.model_id, "backend": type(backend).__name__, "source": source["model_id"],
            "fingerprint": source["fingerprint"], "precision": manifest["precision"]}


class OnnxClassifierBackend(TransformersBackend):
    """An exported transformers classifier: the torch backend's features and batching, ORT's forward."""

    threads = ORT_THREADS

    def __init__(self, location: str, model_id: str, manifest: dict):  # noqa: super().__init__ needs torch
        from transformers import AutoConfig

        folder = Path(location)
        self.manifest = manifest
        self.model_id = model_id
        self.device = "cpu"
        self.dtype = manifest["precision"]
        self.feature_extractor = load_feature_extractor(folder)
        self._read_facts(AutoConfig.from_pretrained(folder, trust_remote_code=False), self.feature_extractor)
        self.graph = OrtGraph(folder / manifest["files"]["model"])

    def forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        logits = self.graph.run(batch).astype(np.float32)
        if self.multi_label:
            return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)
        return softmax(logits)

    def logits(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        return self.graph.run(batch).astype(np.float32)

    def identity(self) -> dict:
        return _identity(self, self.manifest)


class OnnxClapBackend(ClapBackend):
    """An exported CLAP: audio tower (fp32 or int8) and text tower (fp32) on ORT; windows, features and
    embedding pooling as :class:`~audiosift.models.clap.ClapBackend` does them."""

    threads = ORT_THREADS

    def __init__(self, location: str, model_id: str, manifest: dict):  # noqa: super().__init__ needs torch
        from transformers import AutoTokenizer

        folder = Path(location)
        self.manifest = manifest
        self.location = str(location)
        self.model_id = model_id
        self.device = "cpu"
        self.dtype = manifest["precision"]
        self.feature_extractor = load_feature_extractor(folder)
        if type(self.feature_extractor).__name__ == "ClapFeatureExtractor":  # as ClapBackend: same numbers, vectorised
            self.feature_extractor._np_extract_fbank_features = functools.partial(
                framewise_log_mel, frame_length=self.feature_extractor.fft_window_size,
                hop_length=self.feature_extractor.hop_length)
        self.tokenizer = AutoTokenizer.from_pretrained(folder, trust_remote_code=False)
        self.sampling_rate = int(self.feature_extractor.sampling_rate)
        self.window_samples = int(self.feature_extractor.nb_max_samples)
        self.window_seconds = self.window_samples / self.sampling_rate
        self.hop_seconds = self.window_seconds / 2
        self.logit_scale = float(manifest["clap"]["logit_scale"])
        self.embedding_size = int(manifest["clap"]["embedding_size"])
        self.audio_graph = OrtGraph(folder / manifest["files"]["audio"])
        self.text_graph = OrtGraph(folder / manifest["files"]["text"])
        # The graph's mel length: the tower's 1024 frames (resized in featurization), or, in an export
        # made before that, the extractor's own 1001 (the graph resizes).
        frames = self.audio_graph.shapes["input_features"][-2]
        self.swin_frames = frames if isinstance(frames, int) else None
        self._fingerprint = f"{manifest['source']['fingerprint']}:onnx-{manifest['precision']}"

    def _embed_features(self, features: list[dict[str, np.ndarray]]) -> np.ndarray:
        feeds = {"input_features": np.concatenate([f["input_features"] for f in features]),
                 "is_longer": np.concatenate([f["is_longer"] for f in features])}
        return self.audio_graph.run(feeds).astype(np.float32)

    def embed_texts(self, texts, batch_size: int = 64) -> np.ndarray:
        embeddings = np.zeros((len(texts), self.embedding_size), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            tokens = self.tokenizer(list(texts[start : start + batch_size]), padding=True, return_tensors="np")
            feeds = {"input_ids": tokens["input_ids"], "attention_mask": tokens["attention_mask"]}
            embeddings[start : start + len(tokens["input_ids"])] = self.text_graph.run(feeds)
        return embeddings

    def fingerprint(self) -> str:
        return self._fingerprint  # the source's, so text embeddings cached from it are told apart by precision

    def identity(self) -> dict:
        return _identity(self, self.manifest)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return (shifted / shifted.sum(axis=-1, keepdims=True)).astype(np.float32)

