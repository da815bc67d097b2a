"""CLAP (contrastive language-audio pretraining): an audio tower and a text tower that map clips and
sentences into one embedding space, as ``transformers.ClapModel`` implements them.

What this module adds to the model, and why:
- Audio features are made exactly as ``pipeline("zero-shot-audio-classification")`` makes them
  (the model's own ``ClapFeatureExtractor``, one clip at a time, float64 mel, cast to the model's
  dtype), so scores match it. Clips reach the extractor already resampled to 48 kHz (the pipeline
  assumes 48 kHz and silently misreads any other rate).
- Clips never exceed the model's 10 s window: longer clips are cut into fixed windows here
  (:func:`window_starts`), so the extractor's ``rand_trunc`` random crop is never used and the
  same file gives the same embedding on every run. A clip's embedding is the mean of its windows'
  (unit-length) embeddings, re-normalised to unit length.
- Every CLAP input is a fixed-size mel spectrogram (shorter clips are repeated and padded to 10 s),
  so any number of windows runs through the audio tower in one batch without changing results.
- ``get_audio_features`` / ``get_text_features`` return an output object in transformers 5 (the
  embedding is its ``pooler_output``, already L2-normalised); older versions return the tensor.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from audiosift.errors import UnsupportedModelError
from audiosift.models import cpu_layers
from audiosift.models.base import ClipBackend
from audiosift.models.quiet import quietly
from audiosift.models.torch_threads import TORCH_THREADS

# Files whose content decides the text embeddings: the weights, the tokenizer, and the configs.
FINGERPRINT_PATTERNS = ("*.safetensors", "pytorch_model*.bin", "tokenizer*", "vocab*", "merges.txt",
                        "config.json", "processor_config.json", "special_tokens_map.json")
HUB_SNAPSHOT = re.compile(r"^[0-9a-f]{40}$")  # .../snapshots/<commit>/ in a Hugging Face cache
HASH_CHUNK_BYTES = 1 << 20

# HTSAT's audio tower on a CPU runs fastest two windows at a time: measured here (2 cores, fp32,
# full size) 0.13 s a window one by one, 0.10 s two at a time, 0.12 s four or eight at a time.
# Several such batches run side by side, the cores split among them (engine: map_splitting_cores).
CPU_AUDIO_BATCH = 2


def window_starts(n_samples: int, window: int) -> list[int]:
    """Start offsets of the windows covering a clip of ``n_samples``.

    A clip that fits in one window is one window (the model repeat-pads it, as the pipeline does).
    A longer clip gets back-to-back windows; the last one is aligned to the clip's end, so every
    window holds ``window`` samples of real audio (it may overlap the one before) and no window is
    mostly padding. Example: 25 s with a 10 s window -> starts at 0, 10 and 15 s.
    """
    if n_samples <= window:
        return [0]
    starts = list(range(0, n_samples - window, window))
    starts.append(n_samples - window)
    return starts


def _pooled(output):
    """The embedding tensor of ``get_*_features`` (an output object in transformers 5)."""
    return output.pooler_output if hasattr(output, "pooler_output") else output


def build(request) -> "ClapBackend":
    """The registry's builder: a CLAP model from a local folder (zero-shot)."""
    options = request.options
    return ClapBackend(request.location, request.model_id, options.torch_device(), options.torch_dtype())


class ClapBackend(ClipBackend):
    """A loaded CLAP model (see module docstring): the audio tower is the clip backend the engine
    batches (``forward`` gives unit-length clip embeddings); the text tower encodes prompts."""

    labels = None  # the user gives them: a zero-shot model
    output = "embeddings"
    task = "zero-shot audio classification (any labels)"
    thread_safe = True
    featurize_ahead = True  # CLAP's 10 s log-mel is costly: made ahead on CPU threads for a GPU
    threads = TORCH_THREADS
    cpu_max_batch = CPU_AUDIO_BATCH
    # A whole clip becomes one embedding averaged over its 10 s windows; past 5 minutes (30 windows,
    # 58 MB at 48 kHz) a recording belongs to --window, which streams it: decoding an hour at 48 kHz
    # would hold ~1.4 GB.
    max_seconds = 300.0

    @quietly  # no "Loading weights" bars or load warnings unless asked (models/quiet.py)
    def __init__(self, location: str, model_id: str, device, dtype):
        import torch
        from transformers import AutoFeatureExtractor, AutoTokenizer, ClapModel

        self._torch = torch
        self.location = str(location)
        self.model_id = model_id
        self.device = device
        self.dtype = dtype
        try:
            self.model = ClapModel.from_pretrained(location, trust_remote_code=False).to(device=device, dtype=dtype)
        except (ValueError, TypeError, OSError) as error:
            raise UnsupportedModelError(f"{model_id!r} could not be loaded as a CLAP model: {error}") from error
        self.model.eval()
        self.cpu_layers = cpu_layers.install(self.model, device)
        self.feature_extractor = AutoFeatureExtractor.from_pretrained(location, trust_remote_code=False)
        if type(self.feature_extractor).__name__ == "ClapFeatureExtractor":
            # Same numbers, vectorised: transformers' spectrogram() loops over frames in Python.
            self.feature_extractor._np_extract_fbank_features = functools.partial(
                framewise_log_mel, frame_length=self.feature_extractor.fft_window_size,
                hop_length=self.feature_extractor.hop_length)
        self.tokenizer = AutoTokenizer.from_pretrained(location, trust_remote_code=False)
        self.sampling_rate = int(self.feature_extractor.sampling_rate)
        self.window_samples = int(self.feature_extractor.nb_max_samples)
        self.window_seconds = self.window_samples / self.sampling_rate
        self.hop_seconds = self.window_seconds / 2
        # The scale the model multiplies audio-text cosine similarities by to get logits_per_audio.
        self.logit_scale = float(self.model.logit_scale_a.detach().float().exp())
        self.embedding_size = int(self.model.config.projection_dim)
        self.swin_frames = tower_frames(self.model.config.audio_config)
        self._fingerprint: str | None = None

    # -- audio: the clip backend ------------------------------------------------------------

    def featurize_window(self, window: np.ndarray) -> dict[str, np.ndarray]:
        """Model inputs for one window of at most ``window_samples`` (mono float32, 48 kHz); the mel
        already at the tower's ``swin_frames`` when the model takes it so (:func:`resize_frames`)."""
        inputs = self.feature_extractor([window], sampling_rate=self.sampling_rate, return_tensors="np")
        features = np.asarray(inputs["input_features"], dtype=np.float32)
        if self.swin_frames and features.shape[-2] < self.swin_frames:
            features = resize_frames(features, self.swin_frames)
        return {"input_features": features, "is_longer": np.asarray(inputs["is_longer"], dtype=bool)}

    def featurize(self, waveform: np.ndarray) -> list[dict[str, np.ndarray]]:
        """One clip's windows' inputs (a clip longer than the window is cut: :func:`window_starts`)."""
        return [self.featurize_window(waveform[start : start + self.window_samples])
                for start in window_starts(len(waveform), self.window_samples)]

    def encoder_positions(self, num_samples: int) -> int | None:
        return None  # every window costs the same; cpu_max_batch bounds a CPU batch instead

    def collate(self, features):
        return [(list(range(len(features))), list(features))]  # fixed-size windows always stack

    def forward(self, batch: list[list[dict[str, np.ndarray]]]) -> np.ndarray:
        """Unit-length clip embeddings ``(clips, d)``: a clip's windows' mean, re-normalised."""
        windows = [window for clip in batch for window in clip]
        owners = [index for index, clip in enumerate(batch) for _ in clip]
        window_embeddings = self._embed_features(windows)
        if len(windows) == len(batch):  # one window each: already unit length, keep it bit-identical
            return window_embeddings
        embeddings = np.zeros((len(batch), self.embedding_size), dtype=np.float32)
        np.add.at(embeddings, owners, window_embeddings)
        multi = np.bincount(owners, minlength=len(batch)) > 1
        embeddings[multi] = normalize_rows(embeddings[multi])
        embeddings[~multi] = window_embeddings[[owners.index(i) for i in np.flatnonzero(~multi)]]
        return embeddings

    def _embed_features(self, features: list[dict[str, np.ndarray]]) -> np.ndarray:
        torch = self._torch
        features_tensor = torch.from_numpy(np.concatenate([f["input_features"] for f in features]))
        is_longer = torch.from_numpy(np.concatenate([f["is_longer"] for f in features]))
        with torch.inference_mode():
            output = self.model.get_audio_features(
                input_features=features_tensor.to(self.device, self.dtype), is_longer=is_longer.to(self.device))
            return _pooled(output).float().cpu().numpy()

    def embed_clips(self, waveforms: Sequence[np.ndarray], batch_size: int) -> np.ndarray:
        """One unit-length embedding per clip (48 kHz mono), through the engine's batching."""
        from audiosift.inference.engine import score_waveforms

        if not len(waveforms):
            return np.zeros((0, self.embedding_size), dtype=np.float32)
        return score_waveforms(self, list(waveforms), batch_size)

    def embed_windows(self, windows: Sequence[np.ndarray], batch_size: int) -> np.ndarray:
        """Unit-length embeddings of windows of at most ``window_samples`` each, in order."""
        return self.embed_clips([w[: self.window_samples] for w in windows], batch_size)

    # -- text --------------------------------------------------------------------------------

    def embed_texts(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit-length text embeddings ``(len(texts), embedding_size)`` for prompts as given."""
        torch = self._torch
        embeddings = np.zeros((len(texts), self.embedding_size), dtype=np.float32)
        for start in range(0, len(texts), batch_size):
            tokens = self.tokenizer(list(texts[start : start + batch_size]), padding=True, return_tensors="pt")
            with torch.inference_mode():
                output = self.model.get_text_features(
                    input_ids=tokens["input_ids"].to(self.device),
                    attention_mask=tokens["attention_mask"].to(self.device))
            embeddings[start : start + len(tokens["input_ids"])] = _pooled(output).float().cpu().numpy()
        return embeddings

    # -- identity ----------------------------------------------------------------------------

    def fingerprint(self) -> str:
        """What the text embeddings depend on: the hub commit, or a hash of the model's files.

        A Hugging Face cache snapshot folder is named by its commit, which pins every file. A local
        folder has no such name, so its weights, tokenizer and config files are hashed (once, lazily:
        ~1 s for CLAP's 600 MB). The dtype is part of it: float16 embeddings differ from float32 ones.
        """
        if self._fingerprint is None:
            folder = Path(self.location)
            if HUB_SNAPSHOT.match(folder.name) and folder.parent.name == "snapshots":
                identity = f"commit:{folder.name}"
            else:
                identity = f"sha256:{hash_model_files(folder)}"
            self._fingerprint = f"{identity}:{str(self.dtype).replace('torch.', '')}"
        return self._fingerprint


def hash_model_files(folder: Path) -> str:
    digest = hashlib.sha256()
    files = sorted({path for pattern in FINGERPRINT_PATTERNS for path in folder.glob(pattern) if path.is_file()})
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as handle:
            while chunk := handle.read(HASH_CHUNK_BYTES):
                digest.update(chunk)
    return digest.hexdigest()


def framewise_log_mel(waveform: np.ndarray, mel_filters: np.ndarray, *, frame_length: int,
                      hop_length: int) -> np.ndarray:
    """The log-mel (dB) spectrogram ``(frames, mels)`` ClapFeatureExtractor computes, all frames at once.

    Step for step what ``transformers.audio_utils.spectrogram`` does for CLAP (centred with reflect
    padding, periodic Hann window, float64 frames, FFT stored as complex64, power 2, mel floor 1e-10,
    10*log10), but with one batched FFT instead of a Python loop over ~1000 frames (~25 ms a clip).
    """
    half = frame_length // 2
    padded = np.pad(waveform, (half, half), mode="reflect").astype(np.float64)
    window = np.hanning(frame_length + 1)[:-1]  # periodic Hann
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame_length)[::hop_length] * window
    spectrum = np.fft.rfft(frames, axis=-1).astype(np.complex64)
    power = np.abs(spectrum, dtype=np.float64) ** 2
    mel = np.maximum(1e-10, mel_filters.T @ power.T)
    return (10.0 * np.log10(np.clip(mel, 1e-10, None))).astype(np.float32).T


def normalize_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 length (a zero row stays zero)."""
    norms = np.linalg.norm(matrix, axis=-1, keepdims=True)
    return (matrix / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


ClapTowers = ClapBackend  # the name it had before it became a clip backend


def tower_frames(audio_config) -> int | None:
    """The time length HTSAT resizes its mel to, or None: ``spec_size x freq_ratio`` with
    ``freq_ratio = spec_size // num_mel_bins`` as its encoder derives it (256 x 4 = 1024)."""
    size, bins = getattr(audio_config, "spec_size", None), getattr(audio_config, "num_mel_bins", None)
    return int(size * (size // bins)) if size and bins else None


@functools.lru_cache(maxsize=8)
def _bicubic_taps(source: int, target: int) -> tuple[np.ndarray, np.ndarray]:
    """torch's ``interpolate(mode="bicubic", align_corners=True)`` along one axis: for each output
    position its 4 source indices (clamped at the edges) and weights (cubic convolution, A = -0.75)."""
    # In float32, as torch computes positions and weights for float32 input (in float64 the
    # positions near frame 1000 move by ~1e-4 of a frame: up to 3e-4 on white-noise features).
    a = np.float32(-0.75)
    scale = np.float32((source - 1) / (target - 1) if target > 1 else 0.0)
    position = np.arange(target, dtype=np.float32) * scale
    base = np.floor(position).astype(np.int64)
    t = position - base.astype(np.float32)

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    one, two = np.float32(1), np.float32(2)
    weights = np.stack([far(t + one), near(t), near(one - t), far(two - t)], axis=1)
    return np.clip(base[:, None] + np.arange(-1, 3), 0, source - 1), weights


def resize_frames(features: np.ndarray, frames: int) -> np.ndarray:
    """``(..., time, mel)`` features resized to ``frames`` in time as HTSAT's ``reshape_mel2img`` does
    (bicubic, corners aligned), done once in featurization: the graph then skips it (on ORT its
    ``Resize`` was 7% of the int8 audio tower's time). The model's batch norm is per mel bin, so it
    commutes with the resize (the weights of each output sum to 1)."""
    index, weights = _bicubic_taps(features.shape[-2], frames)
    gathered = features[..., index, :]  # (..., frames, 4, mel)
    return np.einsum("...tkm,tk->...tm", gathered, weights).astype(np.float32)
