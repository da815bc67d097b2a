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

Memory is bounded whatever a file claims: files are read block by block (:mod:`.readers`), decoded
samples are counted as they come (never trusting a header's length), and decoding stops at
``max_seconds`` (default :data:`DEFAULT_MAX_SECONDS`): ``too_long="error"`` raises AudioTooLongError
past it, ``too_long="truncate"`` keeps the first ``max_seconds``. :func:`load_clip` also says the full
duration when it is known, for warnings such as "the clip is 3600 s, the model sees 1.5 s".
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Union

import numpy as np

from audiosift.audio.readers import ArrayReader, checked_rate, open_file_reader, permission_denied
from audiosift.errors import AudioDecodeError, AudioTooLongError, InvalidAudioError, UsageError

AudioInput = Union[str, os.PathLike, bytes, bytearray, np.ndarray, Mapping, Any]

# A 2-D array is read as (channels, samples) or (samples, channels): the shorter axis is the
# channel axis, provided it is no longer than this (7.1 surround has 8 channels).
MAX_CHANNELS = 8

RESAMPLE_QUALITY = "HQ"  # soxr's "high quality" preset, for whole clips and streams alike

# With no other bound, a whole clip is decoded up to one hour: 230 MB of mono float32 at 16 kHz
# (3600 s x 16000 x 4 bytes; 690 MB at CLAP's 48 kHz), about what a laptop can hold beside a model.
# Longer recordings belong to windowed inference (--window), which streams them in bounded memory.
DEFAULT_MAX_SECONDS = 3600.0

# Files are read (and resampled) this many seconds at a time: one block of 48 kHz stereo is 3.8 MB.
DECODE_BLOCK_SECONDS = 10.0

TooLong = Literal["error", "truncate"]


@dataclass(frozen=True)
class Clip:
    """What :func:`load_clip` returns: mono float32 ``samples`` at ``rate``.

    ``duration_s`` is the source's full duration: exact when it was decoded to the end; when
    ``truncated``, the container's claim if that is plausible (at least what was decoded), else None.
    """

    samples: np.ndarray
    rate: int
    duration_s: float | None
    truncated: bool


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


def load_audio(source: AudioInput, target_rate: int, sampling_rate: int | None = None, *,
               max_seconds: float | None = None, too_long: TooLong = "error") -> np.ndarray:
    """Decode ``source`` and return mono float32 samples at ``target_rate``.

    ``source`` may be a path, encoded bytes, a numpy array or torch tensor (1-D, or 2-D with a
    channel axis) together with ``sampling_rate``, or a dict as ``datasets`` gives it:
    ``{"array", "sampling_rate"}`` (decoded) or ``{"path", "bytes"}`` (``decode=False``).
    ``max_seconds`` / ``too_long``: see :func:`load_clip`.
    """
    return load_clip(source, target_rate, sampling_rate, max_seconds=max_seconds, too_long=too_long).samples


def load_clip(source: AudioInput, target_rate: int, sampling_rate: int | None = None, *,
              max_seconds: float | None = None, too_long: TooLong = "error") -> Clip:
    """Like :func:`load_audio`, with the full duration and whether the audio was cut.

    At most ``max_seconds`` of the source are decoded (None: :data:`DEFAULT_MAX_SECONDS`). Past it,
    ``too_long="error"`` raises AudioTooLongError (at once when the header already says so) and
    ``too_long="truncate"`` returns the first ``max_seconds`` only, resampled.
    """
    target = checked_rate(target_rate, "target_rate", UsageError)
    name = describe(source)
    reader = open_reader(source, sampling_rate, name)
    # Files are resampled block by block (soxr keeps its state, so the result equals a one-shot
    # resample) so only the output is held; arrays are in memory already: resampled in one go.
    streaming = reader.rate != target and not reader.in_memory
    resampler = resample_stream(reader.rate, target) if streaming else None
    chunks: list[np.ndarray] = []

    def take(block: np.ndarray) -> None:
        mono = np.ascontiguousarray(to_mono(block), dtype=np.float32)
        chunks.append(resampler.resample_chunk(mono) if resampler else mono)

    frames, truncated = _read_bounded(reader, name, max_seconds, too_long, take)
    if resampler:
        chunks.append(resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
    samples = chunks[0] if len(chunks) == 1 else np.concatenate(chunks)
    if not streaming:
        samples = resample(samples, reader.rate, target)
    decoded_s = frames / reader.rate
    claimed = reader.duration_s
    duration = decoded_s if not truncated else (claimed if claimed is not None and claimed >= decoded_s else None)
    return Clip(samples, target, duration, truncated)


def decode(source: AudioInput, sampling_rate: int | None = None, *,
           max_seconds: float | None = None, too_long: TooLong = "error") -> tuple[np.ndarray, int]:
    """Return ``(samples, rate)`` with samples float32 shaped ``(channels, n)``, validated, at the
    source's rate; ``max_seconds`` / ``too_long`` as in :func:`load_clip`."""
    name = describe(source)
    reader = open_reader(source, sampling_rate, name)
    blocks: list[np.ndarray] = []
    _read_bounded(reader, name, max_seconds, too_long, blocks.append)
    samples = blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)
    return (samples if reader.in_memory else np.ascontiguousarray(samples)), reader.rate


def open_reader(source: AudioInput, sampling_rate: int | None = None, name: str | None = None):
    """A block reader (:mod:`.readers`) over any input; opening checks it (missing, not audio, bad
    rate) but decodes nothing. Arrays are wrapped, not copied."""
    name = name or describe(source)
    if isinstance(source, Mapping):
        return _mapping_reader(source, sampling_rate, name)
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        check_audio_file(path)
        return open_file_reader(str(path), name)
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        check_audio_bytes(data, name)
        return open_file_reader(data, name)
    array = _as_numpy(source)
    if array is None:
        raise InvalidAudioError(
            f"expected a path, encoded bytes, a numpy array or a dict with 'array' and "
            f"'sampling_rate', got {type(source).__name__}"
        )
    samples = _oriented(array)
    if sampling_rate is None:
        raise InvalidAudioError(
            f"an audio array needs its sampling rate: pass sampling_rate=... (got {describe(array)} without one)"
        )
    if samples.shape[-1] == 0:  # said at opening, so a stream fails before any work starts
        raise InvalidAudioError(f"{name}: audio is empty (0 samples); the recording may have failed")
    return ArrayReader(samples, checked_rate(sampling_rate, f"sampling_rate given for {name}"), _to_float32)


def _mapping_reader(source: Mapping, sampling_rate: int | None, name: str):
    array = source.get("array", source.get("raw"))
    if array is not None:
        rate = source.get("sampling_rate", sampling_rate)
        if rate is None:
            raise InvalidAudioError(
                "a dict with 'array' needs 'sampling_rate' too (as datasets' Audio column gives it)"
            )
        return open_reader(array, rate, name)
    data = source.get("bytes")
    if data is not None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidAudioError(f"{name}: a dict's 'bytes' must be encoded audio bytes, got {type(data).__name__}")
        return open_reader(bytes(data), None, str(source.get("path") or "<bytes>"))
    if source.get("path"):
        return open_reader(source["path"], None, str(source["path"]))
    raise InvalidAudioError(
        "expected a dict with 'array' + 'sampling_rate', or 'path' / 'bytes' "
        f"(datasets' Audio(decode=False)); got keys {sorted(map(str, source.keys()))}"
    )


def _read_bounded(reader, name: str, max_seconds: float | None, too_long: TooLong,
                  take: Callable[[np.ndarray], None]) -> tuple[int, bool]:
    """Hand ``take`` the reader's blocks, at most ``max_seconds`` of them counted as decoded;
    return ``(frames taken, truncated)``. Never reads more than one frame past the limit."""
    limit_s = _limit_seconds(max_seconds, too_long)
    limit = max(1, math.ceil(round(limit_s * reader.rate, 6)))  # round: 1.5 s x 16 kHz is 24000, not 24001
    if too_long == "error" and reader.duration_s is not None and reader.duration_s > limit_s:
        raise _too_long(name, limit_s, max_seconds is None, f"{reader.duration_s:.1f} s long (its header says)")
    size = limit + 1 if reader.in_memory else min(limit + 1, max(1, int(DECODE_BLOCK_SECONDS * reader.rate)))
    done, blocks = 0, reader.blocks(size)
    try:
        for block in blocks:
            count = block.shape[-1]
            if done + count > limit:
                if too_long == "error":
                    seen = f"more than {limit_s:g} s long (decoding stopped at the limit)"
                    raise _too_long(name, limit_s, max_seconds is None, seen)
                take(_finite(block[:, : limit - done], name, done / reader.rate))
                return limit, True
            take(_finite(block, name, done / reader.rate))
            done += count
    finally:
        blocks.close()  # a cut read closes its file (and FFmpeg container) now
    if done == 0:
        raise InvalidAudioError(f"{name}: audio is empty (0 samples); the recording may have failed")
    return done, False


def _limit_seconds(max_seconds: float | None, too_long: str) -> float:
    if too_long not in ("error", "truncate"):
        raise UsageError(f"too_long must be 'error' or 'truncate', got {too_long!r}")
    if max_seconds is None:
        return DEFAULT_MAX_SECONDS
    if isinstance(max_seconds, bool) or not isinstance(max_seconds, numbers.Real) \
            or not math.isfinite(max_seconds) or max_seconds <= 0:
        raise UsageError(f"max_seconds must be a positive number of seconds, got {max_seconds!r}")
    return float(max_seconds)


def _too_long(name: str, limit_s: float, default: bool, actual: str) -> AudioTooLongError:
    hint = (" (the default limit for a whole clip); classify long recordings with --window, which "
            "streams them" if default else " (max_seconds)")
    error = AudioTooLongError(f"{name}: audio is {actual}; expected at most {limit_s:g} s{hint}")
    error.actual = actual  # what was seen, for callers that word their own limit ("N s long ...")
    return error


def _finite(block: np.ndarray, name: str, at_s: float) -> np.ndarray:
    if block.shape[0] == 0:
        raise InvalidAudioError(f"{name}: audio has zero channels")
    if not np.isfinite(block).all():
        raise InvalidAudioError(f"{name}: audio contains NaN or inf samples near {at_s:.1f} s; "
                                f"check how it was produced")
    return block


def _as_numpy(value: Any) -> np.ndarray | None:
    if isinstance(value, np.ndarray):
        return value
    if type(value).__module__.startswith("torch"):  # a torch.Tensor, without importing torch here
        tensor = value.detach().cpu()
        if str(tensor.dtype) in ("torch.bfloat16", "torch.float16"):  # numpy has no bfloat16: widen
            tensor = tensor.float()
        try:
            return tensor.numpy()
        except (TypeError, RuntimeError) as error:
            raise InvalidAudioError(f"expected a real-valued audio tensor, got dtype {tensor.dtype}: "
                                    f"{error}") from error
    if isinstance(value, (list, tuple)) and value and isinstance(value[0], (int, float)):
        return np.asarray(value, dtype=np.float32)
    return None


def to_channels_first(array: np.ndarray) -> np.ndarray:
    """Return float32 ``(channels, n)``; int PCM scaled to [-1, 1]."""
    return _to_float32(_oriented(array))


def _oriented(array: np.ndarray) -> np.ndarray:
    """``array`` as a ``(channels, n)`` view (not converted yet), its dtype checked."""
    array = np.asarray(array)
    if array.dtype.kind not in "fiub":
        raise InvalidAudioError(f"expected numeric audio samples, got dtype {array.dtype}")
    if array.ndim == 1:
        return array[None, :]
    if array.ndim != 2:
        raise InvalidAudioError(f"expected a 1-D or 2-D audio array, got {array.ndim}-D {array.shape}")
    if 0 in array.shape:
        raise InvalidAudioError(f"audio array has shape {array.shape}: zero channels or samples")
    if array.shape[0] > array.shape[1] and array.shape[1] <= MAX_CHANNELS:
        return array.T
    if array.shape[0] > MAX_CHANNELS:
        raise InvalidAudioError(
            f"cannot tell the channel axis of an array shaped {array.shape}: expected "
            f"(channels, samples) or (samples, channels) with at most {MAX_CHANNELS} channels"
        )
    return array


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


def check_audio_file(path: Path) -> None:
    """Raise AudioDecodeError for what cannot be an audio file: missing, a folder, 0 bytes, unreadable
    (libsndfile and FFmpeg would call an unreadable file "not audio")."""
    try:
        if path.is_dir():
            raise AudioDecodeError(f"{path}: is a folder, expected an audio file")
        if not path.exists():
            raise AudioDecodeError(f"{path}: no such file")
        if path.stat().st_size == 0:
            raise AudioDecodeError(f"{path}: file is empty (0 bytes)")
        with open(path, "rb"):
            pass
    except PermissionError as error:
        raise permission_denied(str(path)) from error
    except OSError as error:
        raise AudioDecodeError(f"{path}: cannot be read: {error}") from error


def check_audio_bytes(data: bytes, name: str) -> None:
    if not data:
        raise AudioDecodeError(f"{name}: no bytes given, expected encoded audio")
