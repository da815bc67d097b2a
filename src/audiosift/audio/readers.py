"""Block readers under both decoders: libsndfile or FFmpeg, one bounded block at a time.

The one-shot decoder (:mod:`.decode`) and the streaming one (:mod:`.stream`) both read through these
readers, so that:
- every failure of the libraries below (libsndfile, FFmpeg, numpy) becomes an AudioDecodeError at one
  boundary (:func:`decoder_errors`), with wording of its own for permission denied / missing / folder;
- a sampling rate from a header is checked (:func:`checked_rate`) before anything is sized from it;
- nothing is ever allocated for the length a header claims: a reader yields blocks of a size the
  caller chooses, and the caller counts what was really decoded.
"""

from __future__ import annotations

import io
import math
import numbers
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from audiosift.errors import AudioDecodeError, AudiosiftError, InvalidAudioError

# 1 kHz is below every audio codec's lowest rate (telephony is 8 kHz, old speech corpora 4-8 kHz);
# 768 kHz is the highest rate audio interfaces record. A header outside this range is corrupt, and a
# rate outside it given by a user is a typo (e.g. 16 for 16000) that would multiply memory when resampled.
MIN_RATE, MAX_RATE = 1000, 768_000

# libsndfile reports SF_COUNT_MAX (2**63 - 1) frames when a file does not say its length (a FLAC written
# to a pipe); any count this large means "unknown" (2**62 frames is millions of years at 768 kHz).
_UNKNOWN_FRAMES = 2**62

# The most sample values one block may hold, whatever the channel count (16 MiB as float32): 10 s of
# 48 kHz 8-channel audio is 3.8 M values, so this only bites on files with hundreds of channels.
MAX_BLOCK_VALUES = 4 * 1024 * 1024

LIKELY_CAUSES = "the file is not audio, is truncated, or uses a codec FFmpeg does not know"


def checked_rate(value: Any, what: str, error: type[AudiosiftError] = InvalidAudioError) -> int:
    """``value`` as an int sampling rate in MIN_RATE..MAX_RATE Hz, or ``error`` saying what was expected."""
    expected = f"expected a whole number of samples per second between {MIN_RATE} and {MAX_RATE} Hz (e.g. 16000)"
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise error(f"{what}: sampling rate {value!r} ({type(value).__name__}) is not a number; {expected}")
    if not math.isfinite(value) or value != int(value):
        raise error(f"{what}: sampling rate {value!r} is not a whole number; {expected}")
    rate = int(value)
    if not MIN_RATE <= rate <= MAX_RATE:
        hint = (" (the header is likely corrupt)" if error is AudioDecodeError
                else " (kHz given for Hz?)" if 0 < rate < MIN_RATE else "")
        raise error(f"{what}: sampling rate {rate} Hz is out of range{hint}; {expected}")
    return rate


def _failure_types() -> tuple[type[BaseException], ...]:
    """What libsndfile (RuntimeError), FFmpeg (av.FFmpegError, mostly OSError/ValueError) and numpy
    (ValueError "array is too big", TypeError) raise on bad input; av only if it is already imported."""
    types: tuple[type[BaseException], ...] = (RuntimeError, ValueError, OSError, TypeError, AttributeError,
                                              IndexError, KeyError, EOFError, OverflowError, ZeroDivisionError)
    av = sys.modules.get("av")
    return types + (av.FFmpegError,) if av is not None else types


@contextmanager
def decoder_errors(name: str, where: str = "") -> Iterator[None]:
    """The one boundary: any decoder failure inside becomes an AudioDecodeError naming ``name``."""
    try:
        yield
    except AudiosiftError:
        raise
    except PermissionError as error:
        raise permission_denied(name) from error
    except FileNotFoundError as error:
        raise AudioDecodeError(f"{name}: no such file (moved or deleted while being read?)") from error
    except IsADirectoryError as error:
        raise AudioDecodeError(f"{name}: is a folder, expected an audio file") from error
    except Exception as error:
        if not isinstance(error, _failure_types()):
            raise
        raise AudioDecodeError(f"{name}: could not decode audio{where} ({LIKELY_CAUSES}): "
                               f"{type(error).__name__}: {error}") from error


def file_like(source: str | bytes) -> Any:
    """What soundfile and PyAV open: a path as is, encoded bytes as a file object."""
    return io.BytesIO(source) if isinstance(source, bytes) else source


def block_frames(frames: int, channels: int) -> int:
    """``frames`` per block, fewer if that many channels would pass MAX_BLOCK_VALUES."""
    return max(1, min(int(frames), MAX_BLOCK_VALUES // max(1, channels)))


class ArrayReader:
    """Audio already in memory, channels first (any numeric dtype): blocks are views, converted lazily
    so that a truncated read never converts (or copies) more than it returns."""

    in_memory = True

    def __init__(self, samples: np.ndarray, rate: int, convert):
        self.samples, self.rate, self._convert = samples, rate, convert
        self.duration_s = samples.shape[-1] / rate

    def blocks(self, size: int) -> Iterator[np.ndarray]:
        for start in range(0, self.samples.shape[-1], size):
            yield self._convert(self.samples[:, start : start + size])


class SoundfileReader:
    """What libsndfile opens (wav, flac, ogg, mp3, ...) and whose length it knows."""

    in_memory = False

    def __init__(self, source: str | bytes, name: str, handle):
        self.source, self.name = source, name
        self.rate = checked_rate(handle.samplerate, f"{name} (file header)", AudioDecodeError)
        self.channels = handle.channels
        self.duration_s = handle.frames / self.rate

    def blocks(self, size: int) -> Iterator[np.ndarray]:
        import soundfile

        size, done = block_frames(size, self.channels), 0
        with decoder_errors(self.name), soundfile.SoundFile(file_like(self.source)) as handle:
            while True:
                with decoder_errors(self.name, f" after {done / self.rate:.1f} s" if done else ""):
                    block = handle.read(size, dtype="float32", always_2d=True)
                if not len(block):
                    return
                done += len(block)
                yield block.T


class PyAVReader:
    """Everything else FFmpeg knows (webm/opus, m4a/aac, FLAC of unknown length, ...)."""

    in_memory = False

    def __init__(self, source: str | bytes, name: str):
        self.source, self.name = source, name
        with open_container(source, name) as container:
            self.rate = container_rate(container, name)
            self.duration_s = _container_duration(container, container.streams.audio[0])

    def blocks(self, size: int) -> Iterator[np.ndarray]:
        pending: list[np.ndarray] = []
        held = 0
        with open_container(self.source, self.name) as container:
            for frame in float_frames(container, self.name):
                pending.append(frame)
                held += frame.shape[-1]
                if held >= block_frames(size, frame.shape[0]):  # frames are small (~20 ms): group them
                    yield _joined(pending, self.name)
                    pending, held = [], 0
        if pending:
            yield _joined(pending, self.name)


def _joined(frames: list[np.ndarray], name: str) -> np.ndarray:
    with decoder_errors(name, " (the channel count changed mid-stream)"):
        return np.concatenate(frames, axis=1)


def open_file_reader(source: str | bytes, name: str):
    """libsndfile's reader when it opens ``source`` and knows its length, else FFmpeg's.

    libsndfile cannot read a file of unknown length (its reads fail seeking past the end), so those go
    to FFmpeg, which streams them; so do files libsndfile opens but finds empty.
    """
    import soundfile

    try:
        with soundfile.SoundFile(file_like(source)) as handle:
            if 0 < handle.frames < _UNKNOWN_FRAMES:
                return SoundfileReader(source, name, handle)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError):
        pass  # not a format libsndfile reads: FFmpeg gets its turn
    return PyAVReader(source, name)


def open_container(source: str | bytes, name: str):
    """A PyAV container whose first audio stream FFmpeg can decode (use it in ``with``)."""
    import av

    with decoder_errors(name):
        container = av.open(file_like(source), "r")
    if not container.streams.audio:
        container.close()
        raise AudioDecodeError(f"{name}: the file has no audio stream (is it a video or image?)")
    if container.streams.audio[0].codec_context is None:
        container.close()
        raise AudioDecodeError(f"{name}: the audio stream uses a codec or sample format FFmpeg cannot "
                               f"decode (a corrupt header, e.g. an impossible bits-per-sample?)")
    return container


def container_rate(container, name: str = "<audio>") -> int:
    stream = container.streams.audio[0]
    return checked_rate(stream.codec_context.sample_rate or stream.rate, f"{name} (file header)", AudioDecodeError)


def float_frames(container, name: str) -> Iterator[np.ndarray]:
    """The first audio stream's frames as float32 ``(channels, samples)`` arrays, in order."""
    import av

    to_float = av.AudioResampler(format="fltp")
    with decoder_errors(name):
        for frame in container.decode(container.streams.audio[0]):
            for converted in to_float.resample(frame):
                yield converted.to_ndarray()
        for converted in to_float.resample(None):
            yield converted.to_ndarray()


def _container_duration(container, stream) -> float | None:
    """What the container claims (progress only: zeroed timestamps make it say 0.02 s for 2 hours)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # container durations are in AV_TIME_BASE (microseconds)
    return None


def permission_denied(name: str) -> AudioDecodeError:
    return AudioDecodeError(f"{name}: permission denied: the file exists but cannot be read "
                            f"(check its permissions or owner)")
