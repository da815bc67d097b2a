"""The one audio entry point: anything a user hands us -> mono float32 at the model's rate.

Decoders, and why:
- ``soundfile`` (libsndfile, shipped inside its wheel) reads wav, flac, ogg/vorbis, ogg/opus and mp3
  quickly and without a subprocess; it is tried first.
- ``PyAV`` (FFmpeg, shipped inside its wheel) reads what libsndfile cannot: webm/opus (what browsers'
  MediaRecorder produces), m4a/aac, and anything else FFmpeg knows. It is the fallback.
- No torchaudio / torchcodec: their PyPI wheels are CUDA builds that fail to load beside a CPU torch,
  and a broken torchaudio even breaks transformers' AST feature extractor.

Resampling uses ``soxr`` (the SoX resampler, "HQ" quality). Multi-channel audio is mixed to mono by
averaging channels. Integer PCM is scaled to [-1, 1].
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Union

import numpy as np

from audiosift.errors import AudioDecodeError, InvalidAudioError

AudioInput = Union[str, os.PathLike, bytes, bytearray, np.ndarray, Mapping, Any]

# A 2-D array is read as (channels, samples) or (samples, channels): the shorter axis is the
# channel axis, provided it is no longer than this (7.1 surround has 8 channels).
MAX_CHANNELS = 8

RESAMPLE_QUALITY = "HQ"  # soxr's "high quality" preset, for whole clips and streams alike

_LIKELY_CAUSES = "the file is not audio, is truncated, or uses a codec FFmpeg does not know"


def describe(source: Any) -> str:
    """A short human name for an input, for error messages and reports."""
    if isinstance(source, (str, os.PathLike)):
        return str(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return f"<{len(source)} bytes>"
    if isinstance(source, np.ndarray):
        return f"<array shape={source.shape} dtype={source.dtype}>"
    if isinstance(source, Mapping):
        if source.get("path"):
            return str(source["path"])
        return "<dict " + ",".join(sorted(map(str, source.keys()))) + ">"
    return f"<{type(source).__name__}>"


def load_audio(source: AudioInput, target_rate: int, sampling_rate: int | None = None) -> np.ndarray:
    """Decode ``source`` and return mono float32 samples at ``target_rate``.

    ``source`` may be a path, encoded bytes, a numpy array or torch tensor (1-D, or 2-D with a
    channel axis) together with ``sampling_rate``, or a dict as ``datasets`` gives it:
    ``{"array", "sampling_rate"}`` (decoded) or ``{"path", "bytes"}`` (``decode=False``).
    """
    samples, rate = decode(source, sampling_rate)
    return resample(to_mono(samples), rate, target_rate)


def decode(source: AudioInput, sampling_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Return ``(samples, rate)`` with samples float32 shaped ``(channels, n)``, validated."""
    if isinstance(source, Mapping):
        return _decode_mapping(source, sampling_rate)
    if isinstance(source, (str, os.PathLike)):
        samples, rate = _decode_path(Path(source))
    elif isinstance(source, (bytes, bytearray, memoryview)):
        samples, rate = _decode_bytes(bytes(source), "<bytes>")
    else:
        array = _as_numpy(source)
        if array is None:
            raise InvalidAudioError(
                f"expected a path, encoded bytes, a numpy array or a dict with 'array' and "
                f"'sampling_rate', got {type(source).__name__}"
            )
        samples = to_channels_first(array)
        if sampling_rate is None:
            raise InvalidAudioError(
                f"an audio array needs its sampling rate: pass sampling_rate=... "
                f"(got {describe(array)} without one)"
            )
        rate = int(sampling_rate)
    return _validated(samples, rate, describe(source))


def _decode_mapping(source: Mapping, sampling_rate: int | None) -> tuple[np.ndarray, int]:
    array = source.get("array", source.get("raw"))
    if array is not None:
        rate = source.get("sampling_rate", sampling_rate)
        if rate is None:
            raise InvalidAudioError(
                "a dict with 'array' needs 'sampling_rate' too (as datasets' Audio column gives it)"
            )
        return decode(_as_numpy(array) if _as_numpy(array) is not None else array, int(rate))
    if source.get("bytes") is not None:
        name = str(source.get("path") or "<bytes>")
        samples, rate = _decode_bytes(bytes(source["bytes"]), name)
        return _validated(samples, rate, name)
    if source.get("path"):
        return decode(source["path"])
    raise InvalidAudioError(
        "expected a dict with 'array' + 'sampling_rate', or 'path' / 'bytes' "
        f"(datasets' Audio(decode=False)); got keys {sorted(map(str, source.keys()))}"
    )


def _as_numpy(value: Any) -> np.ndarray | None:
    if isinstance(value, np.ndarray):
        return value
    if type(value).__module__.startswith("torch"):  # a torch.Tensor, without importing torch here
        return value.detach().cpu().numpy()
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (int, float)):
        return np.asarray(value, dtype=np.float32)
    return None


def to_channels_first(array: np.ndarray) -> np.ndarray:
    """Return float32 ``(channels, n)``; int PCM scaled to [-1, 1]."""
    array = np.asarray(array)
    if array.ndim == 1:
        array = array[None, :]
    elif array.ndim == 2:
        if 0 in array.shape:
            raise InvalidAudioError(f"audio array has shape {array.shape}: zero channels or samples")
        if array.shape[0] > array.shape[1] and array.shape[1] <= MAX_CHANNELS:
            array = array.T
        elif array.shape[0] > MAX_CHANNELS:
            raise InvalidAudioError(
                f"cannot tell the channel axis of an array shaped {array.shape}: expected "
                f"(channels, samples) or (samples, channels) with at most {MAX_CHANNELS} channels"
            )
    else:
        raise InvalidAudioError(f"expected a 1-D or 2-D audio array, got {array.ndim}-D {array.shape}")
    return _to_float32(array)


def _to_float32(array: np.ndarray) -> np.ndarray:
    kind = array.dtype.kind
    if kind == "f":
        return array.astype(np.float32, copy=False)
    if kind == "i":  # signed PCM: full scale is 2**(bits-1)
        return (array.astype(np.float64) / float(2 ** (8 * array.dtype.itemsize - 1))).astype(np.float32)
    if kind == "u":  # unsigned PCM (8-bit wav): centred on 2**(bits-1)
        half = float(2 ** (8 * array.dtype.itemsize - 1))
        return ((array.astype(np.float64) - half) / half).astype(np.float32)
    if kind == "b":
        return array.astype(np.float32)
    raise InvalidAudioError(f"expected numeric audio samples, got dtype {array.dtype}")


def to_mono(samples: np.ndarray) -> np.ndarray:
    """Average ``(channels, n)`` to ``(n,)``."""
    return samples[0] if samples.shape[0] == 1 else samples.mean(axis=0, dtype=np.float32)


def resample(samples: np.ndarray, rate: int, target_rate: int) -> np.ndarray:
    """Resample mono float32 with soxr (HQ); a no-op when the rates match."""
    if rate == target_rate:
        return np.ascontiguousarray(samples, dtype=np.float32)
    import soxr

    return soxr.resample(samples, rate, target_rate, quality=RESAMPLE_QUALITY).astype(np.float32, copy=False)


def resample_stream(rate: int, target_rate: int):
    """A soxr stream resampler (mono float32, same quality as :func:`resample`) that keeps its filter
    state between blocks, so block-by-block output equals one :func:`resample` of the whole signal."""
    import soxr

    return soxr.ResampleStream(rate, target_rate, 1, dtype="float32", quality=RESAMPLE_QUALITY)


def _validated(samples: np.ndarray, rate: int, name: str) -> tuple[np.ndarray, int]:
    if rate <= 0:
        raise InvalidAudioError(f"{name}: sampling rate must be positive, got {rate}")
    if samples.shape[0] == 0:
        raise InvalidAudioError(f"{name}: audio has zero channels")
    if samples.shape[-1] == 0:
        raise InvalidAudioError(f"{name}: audio is empty (0 samples); the recording may have failed")
    if not np.isfinite(samples).all():
        raise InvalidAudioError(f"{name}: audio contains NaN or inf samples; check how it was produced")
    return samples, rate


def check_audio_file(path: Path) -> None:
    """Raise AudioDecodeError for what cannot be an audio file: missing, a folder, 0 bytes."""
    if not path.exists():
        raise AudioDecodeError(f"{path}: no such file")
    if path.is_dir():
        raise AudioDecodeError(f"{path}: is a folder, expected an audio file")
    if path.stat().st_size == 0:
        raise AudioDecodeError(f"{path}: file is empty (0 bytes)")


def check_audio_bytes(data: bytes, name: str) -> None:
    if not data:
        raise AudioDecodeError(f"{name}: no bytes given, expected encoded audio")


def _decode_path(path: Path) -> tuple[np.ndarray, int]:
    check_audio_file(path)
    return _decode_with_fallback(str(path), str(path))


def _decode_bytes(data: bytes, name: str) -> tuple[np.ndarray, int]:
    check_audio_bytes(data, name)
    return _decode_with_fallback(data, name)


def _decode_with_fallback(source: str | bytes, name: str) -> tuple[np.ndarray, int]:
    import soundfile

    try:
        with soundfile.SoundFile(file_like(source)) as f:
            data = f.read(dtype="float32", always_2d=True)
            rate = f.samplerate
        if data.shape[0] > 0:
            return np.ascontiguousarray(data.T), rate
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        pass  # not a format libsndfile reads: FFmpeg gets its turn below
    return _decode_with_pyav(source, name)


def _decode_with_pyav(source: str | bytes, name: str) -> tuple[np.ndarray, int]:
    with open_container(source, name) as container:
        rate = container_rate(container)
        blocks = list(float_frames(container, name))
    if not blocks:
        raise AudioDecodeError(f"{name}: decoded no audio samples ({_LIKELY_CAUSES})")
    return np.ascontiguousarray(np.concatenate(blocks, axis=1), dtype=np.float32), rate


def file_like(source: str | bytes) -> Any:
    """What soundfile and PyAV open: a path as is, encoded bytes as a file object."""
    return io.BytesIO(source) if isinstance(source, bytes) else source


def open_container(source: str | bytes, name: str):
    """A PyAV container that has an audio stream (use it in ``with``); AudioDecodeError otherwise."""
    import av

    try:
        container = av.open(file_like(source), "r")
    except (av.FFmpegError, ValueError, OSError) as error:
        raise AudioDecodeError(f"{name}: could not decode audio ({_LIKELY_CAUSES}): {error}") from error
    if not container.streams.audio:
        container.close()
        raise AudioDecodeError(f"{name}: the file has no audio stream (is it a video or image?)")
    return container


def container_rate(container) -> int:
    stream = container.streams.audio[0]
    return int(stream.codec_context.sample_rate or stream.rate)


def float_frames(container, name: str) -> Iterator[np.ndarray]:
    """The first audio stream's frames as float32 ``(channels, samples)`` arrays, in order."""
    import av

    to_float = av.AudioResampler(format="fltp")
    try:
        for frame in container.decode(container.streams.audio[0]):
            for converted in to_float.resample(frame):
                yield converted.to_ndarray()
        for converted in to_float.resample(None):
            yield converted.to_ndarray()
    except (av.FFmpegError, ValueError, OSError, IndexError) as error:
        raise AudioDecodeError(f"{name}: could not decode audio ({_LIKELY_CAUSES}): {error}") from error
