"""transformers audio-classification models (AST, Wav2Vec2/XLS-R, HuBERT, WavLM, Whisper, ...).

Features are extracted one clip at a time with the model's own feature extractor, exactly as
``transformers.pipeline("audio-classification")`` does, so scores match it. Batching then only
stacks those features: clips whose features already have one shape (AST, Whisper: fixed length)
stack as they are; clips of different lengths are padded only when the feature extractor returns
an attention mask (the model then ignores the padding); otherwise they run in groups of equal shape,
because padding would change their scores.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from audiosift.errors import UnsupportedModelError
from audiosift.models import cpu_layers
from audiosift.models.base import ClipBackend
from audiosift.models.quiet import quietly
from audiosift.models.torch_threads import TORCH_THREADS

# Variable-length encoders (wav2vec2, HuBERT, WavLM) attend over the whole clip: one encoder frame per
# 20 ms, so 5 minutes is 15k frames, and eager attention holds 15k x 15k fp32 weights (0.9 GB) per
# head and layer. Spoken utterances (MINDS-14 calls: 2-20 s) are far shorter; a longer recording is
# refused with advice to classify it window by window (--window).
MAX_VARIABLE_SECONDS = 300.0
# A 25 ms analysis window (400 samples at 16 kHz) is the shortest input the spectrogram front
# ends (AST's Kaldi fbank, Whisper's STFT) are defined on.
SPECTROGRAM_MIN_SECONDS = 0.025


def conv_receptive_field(kernels: Sequence[int], strides: Sequence[int]) -> int:
    """Samples a conv feature encoder needs for one output frame (400 for wav2vec2's encoder)."""
    field = 1
    for kernel, stride in zip(reversed(kernels), reversed(strides)):
        field = (field - 1) * stride + kernel
    return field


def build(request) -> "TransformersBackend":
    """The registry's builder: a transformers audio-classification model from a local folder."""
    feature_extractor, network = load_transformers_parts(request.location, request.model_id)
    options = request.options
    return TransformersBackend(network, feature_extractor, request.model_id, options.torch_device(),
                               options.torch_dtype())


@quietly  # no "Loading weights" bars or mel-filter warnings unless asked (models/quiet.py)
def load_transformers_parts(location: str, model_id: str):
    """``(feature_extractor, model)`` from a local folder; unsupported architectures say so."""
    from transformers import AutoConfig, AutoFeatureExtractor, AutoModelForAudioClassification

    config = AutoConfig.from_pretrained(location, trust_remote_code=False)
    try:
        model = AutoModelForAudioClassification.from_pretrained(location, trust_remote_code=False)
    except ValueError as error:
        raise UnsupportedModelError(
            f"{model_id!r} is a {config.model_type!r} model, which transformers has no "
            f"audio-classification head for; expected e.g. AST, Wav2Vec2, HuBERT, WavLM or Whisper"
        ) from error
    feature_extractor = AutoFeatureExtractor.from_pretrained(location, trust_remote_code=False)
    return feature_extractor, model


class TransformersBackend(ClipBackend):
    thread_safe = True  # eval-mode transformers models keep no state between forward calls
    threads = TORCH_THREADS

    def __init__(self, model, feature_extractor, model_id: str, device, dtype):
        import torch

        self.model = model.to(device=device, dtype=dtype).eval()
        self.cpu_layers = cpu_layers.install(self.model, device)
        self.feature_extractor = feature_extractor
        self.model_id = model_id
        self.device = device
        self.dtype = dtype
        self._torch = torch
        self._read_facts(model.config, feature_extractor)

    def _read_facts(self, config, feature_extractor) -> None:
        """Labels, rate, window and cost facts from the model's config and feature extractor (shared
        with the ONNX backend, which has the config but no torch model)."""
        self.labels = [config.id2label[i] for i in range(config.num_labels)]
        self.sampling_rate = int(feature_extractor.sampling_rate)
        is_whisper = type(feature_extractor).__name__ == "WhisperFeatureExtractor"
        # Whisper's 30 s log-mel is costly enough to make ahead on a GPU (see cpu_threads.featurized_ahead).
        self.featurize_ahead = is_whisper
        self.multi_label = config.problem_type == "multi_label_classification"
        kernels = getattr(config, "conv_kernel", None)
        strides = getattr(config, "conv_stride", None)
        if kernels and strides:
            self.min_samples = conv_receptive_field(kernels, strides)
        else:
            self.min_samples = int(round(SPECTROGRAM_MIN_SECONDS * self.sampling_rate))
        self.window_seconds = _window_seconds(feature_extractor)
        # Whisper's 30 s window costs seconds on a CPU: long recordings get back-to-back windows.
        # Others overlap by half, so a word cut by one window boundary is whole in the next window.
        self.hop_seconds = self.window_seconds if is_whisper else None
        self.max_seconds = None if self.window_seconds else MAX_VARIABLE_SECONDS
        self.task = _task_of(self.labels)
        self._fixed_positions = _fixed_encoder_positions(config)
        self._samples_per_position = math.prod(strides) if strides and not self._fixed_positions else None
        self._pads_with_mask = bool(getattr(feature_extractor, "return_attention_mask", False))

    def encoder_positions(self, num_samples: int) -> int | None:
        if self._fixed_positions:
            return self._fixed_positions
        if self._samples_per_position:
            return max(1, num_samples // self._samples_per_position)
        return None

    def featurize(self, waveform: np.ndarray) -> dict[str, np.ndarray]:
        inputs = self.feature_extractor(waveform, sampling_rate=self.sampling_rate, return_tensors="np")
        return {key: np.asarray(value) for key, value in inputs.items()}

    def collate(self, features):
        groups: dict[tuple, list[int]] = defaultdict(list)
        for position, item in enumerate(features):
            groups[_shape_key(item)].append(position)
        if len(groups) == 1 or not self._pads_with_mask or not _one_varying_axis(groups):
            return [(positions, _stack([features[i] for i in positions])) for positions in groups.values()]
        positions = list(range(len(features)))
        return [(positions, self._pad([features[i] for i in positions]))]

    def _pad(self, items: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        padded = {}
        for key in items[0]:
            arrays = [item[key] for item in items]
            longest = max(array.shape[-1] for array in arrays)
            value = 0 if key == "attention_mask" else self.feature_extractor.padding_value
            padded[key] = np.concatenate(
                [np.pad(a, [(0, 0)] * (a.ndim - 1) + [(0, longest - a.shape[-1])], constant_values=value)
                 for a in arrays]
            )
        return padded

    def forward(self, batch: dict[str, np.ndarray]) -> np.ndarray:
        torch = self._torch
        inputs = {}
        for key, array in batch.items():
            tensor = torch.from_numpy(np.ascontiguousarray(array)).to(self.device)
            inputs[key] = tensor.to(self.dtype) if tensor.is_floating_point() else tensor
        with torch.inference_mode():
            logits = self.model(**inputs).logits.float()
        scores = logits.sigmoid() if self.multi_label else logits.softmax(-1)
        return scores.cpu().numpy()


def _task_of(labels: list[str]) -> str:
    return f"audio classification ({len(labels)} labels)"


def _window_seconds(feature_extractor) -> float | None:
    name = type(feature_extractor).__name__
    if name == "ASTFeatureExtractor":  # max_length frames at a 10 ms hop, plus the 25 ms window
        return round(feature_extractor.max_length * 0.01 + 0.015, 3)
    if name == "WhisperFeatureExtractor":
        return float(feature_extractor.chunk_length)
    return None


def _fixed_encoder_positions(config) -> int | None:
    """Encoder positions of fixed-length-input models: AST's patches (+2 tokens), Whisper's frames."""
    if config.model_type == "audio-spectrogram-transformer":
        frequency = (config.num_mel_bins - config.patch_size) // config.frequency_stride + 1
        time = (config.max_length - config.patch_size) // config.time_stride + 1
        return frequency * time + 2  # 12 x 12 patches + [CLS] + distillation token for speech commands
    if config.model_type == "whisper":
        return config.max_source_positions  # 30 s of audio, always padded: 1500 frames
    return None


def _shape_key(item: dict[str, np.ndarray]) -> tuple:
    return tuple((key, item[key].shape) for key in sorted(item))


def _one_varying_axis(groups) -> bool:
    """True when the shapes differ only along the last (time) axis of every input."""
    keys = list(groups)
    first = keys[0]
    for other in keys[1:]:
        for (name_a, shape_a), (name_b, shape_b) in zip(first, other):
            if name_a != name_b or shape_a[:-1] != shape_b[:-1]:
                return False
    return True


def _stack(items: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    return {key: np.concatenate([item[key] for item in items]) for key in items[0]}
