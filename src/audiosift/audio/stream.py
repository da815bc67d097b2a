"""Streaming decode: a long file (or array) -> mono float32 blocks at a model's rate, memory bounded.

``load_audio`` decodes a whole file at once, which is right for clips and wrong for an hour of
field recording (an hour of 48 kHz stereo is ~1.4 GB as float32). :func:`open_stream` reads the
same inputs in blocks instead: libsndfile's block reader for what ``soundfile`` opens, PyAV frames
for everything else (webm, m4a, ...). Each block is mixed to mono and resampled on the fly with
``soxr.ResampleStream``, which keeps the filter state between blocks, so the concatenated output
equals a one-shot ``soxr.resample`` of the whole signal whatever the block size.

Memory held at any time: one decoded block plus the resampler's filter state, however long the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from audiosift.audio.decode import (AudioInput, check_audio_bytes, check_audio_file, container_rate, decode,
                                    describe, file_like, float_frames, open_container, resample_stream, to_mono)
from audiosift.errors import InvalidAudioError

# Ten seconds per block: large enough that per-block overhead (Python, resampler calls) is
# negligible, small enough that a block is a few MB even for 48 kHz 8-channel audio.
DEFAULT_BLOCK_SECONDS = 10.0


class AudioStream:
    """Iterate over mono float32 blocks at ``target_rate``; ``duration_s`` is known up front when the
    container says it (None otherwise), for progress as time done / total time."""

    def __init__(self, source: AudioInput, target_rate: int, sampling_rate: int | None = None,
                 block_seconds: float = DEFAULT_BLOCK_SECONDS):
        if block_seconds <= 0:
            raise ValueError(f"block_seconds must be positive, got {block_seconds}")
        self.source, self.target_rate, self.block_seconds = source, int(target_rate), block_seconds
        self.name = describe(source)
        self._reader = _open_reader(source, sampling_rate, self.name)
        self.source_rate = self._reader.rate
        self.duration_s = self._reader.duration_s

    def __iter__(self) -> Iterator[np.ndarray]:
        resampler = None
        if self.source_rate != self.target_rate:
            resampler = resample_stream(self.source_rate, self.target_rate)
        produced = 0
        for block in self._reader.blocks(max(1, int(self.block_seconds * self.source_rate))):
            if not np.isfinite(block).all():
                raise InvalidAudioError(f"{self.name}: audio contains NaN or inf samples near "
                                        f"{produced / self.target_rate:.1f} s; check how it was produced")
            mono = np.ascontiguousarray(to_mono(block), dtype=np.float32)
            out = resampler.resample_chunk(mono) if resampler else mono
            produced += len(out)
            if len(out):
                yield out
        if resampler:
            tail = resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
            produced += len(tail)
            if len(tail):
                yield tail
        if produced == 0:
            raise InvalidAudioError(f"{self.name}: audio is empty (0 samples); the recording may have failed")


def open_stream(source: AudioInput, target_rate: int, sampling_rate: int | None = None,
                block_seconds: float = DEFAULT_BLOCK_SECONDS) -> AudioStream:
    """A block iterator over ``source`` (path, bytes, array + rate, or datasets dict) at ``target_rate``.

    Opening checks the input (missing file, not audio) so errors surface before any work starts.
    """
    return AudioStream(source, target_rate, sampling_rate, block_seconds)


def audio_duration(source: AudioInput, sampling_rate: int | None = None) -> float | None:
    """Duration in seconds as the container states it, without decoding; None when unknown."""
    return _open_reader(source, sampling_rate, describe(source)).duration_s


class _ArrayReader:
    """Inputs already in memory (arrays, datasets dicts with arrays): blocks are views, no copy."""

    def __init__(self, samples: np.ndarray, rate: int):
        self.samples, self.rate = samples, rate
        self.duration_s = samples.shape[-1] / rate

    def blocks(self, size: int) -> Iterator[np.ndarray]:
        for start in range(0, self.samples.shape[-1], size):
            yield self.samples[:, start : start + size]


class _SoundfileReader:
    def __init__(self, source: str | bytes, handle):
        self.source, self.rate = source, int(handle.samplerate)
        self.duration_s = handle.frames / handle.samplerate if handle.frames > 0 else None

    def blocks(self, size: int) -> Iterator[np.ndarray]:
        import soundfile

        with soundfile.SoundFile(file_like(self.source)) as handle:
            for block in handle.blocks(blocksize=size, dtype="float32", always_2d=True):
                yield block.T


class _PyAVReader:
    def __init__(self, source: str | bytes, name: str):
        self.source, self.name = source, name
        with open_container(source, name) as container:
            self.rate = container_rate(container)
            self.duration_s = _container_duration(container, container.streams.audio[0])

    def blocks(self, size: int) -> Iterator[np.ndarray]:
        pending: list[np.ndarray] = []
        held = 0
        with open_container(self.source, self.name) as container:
            for frame in float_frames(container, self.name):
                pending.append(frame)
                held += frame.shape[-1]
                if held >= size:  # frames are small (~20 ms): group them into blocks
                    yield np.concatenate(pending, axis=1)
                    pending, held = [], 0
        if pending:
            yield np.concatenate(pending, axis=1)


def _open_reader(source: AudioInput, sampling_rate: int | None, name: str):
    if isinstance(source, dict) and source.get("array") is None and (source.get("bytes") or source.get("path")):
        source = source["bytes"] if source.get("bytes") is not None else source["path"]
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        check_audio_file(path)
        return _file_reader(str(path), name)
    if isinstance(source, (bytes, bytearray, memoryview)):
        check_audio_bytes(bytes(source), name)
        return _file_reader(bytes(source), name)
    samples, rate = decode(source, sampling_rate)  # arrays are in memory already: nothing to stream
    return _ArrayReader(samples, rate)


def _file_reader(source: str | bytes, name: str):
    import soundfile

    try:
        with soundfile.SoundFile(file_like(source)) as handle:
            if handle.frames > 0:
                return _SoundfileReader(source, handle)
    except (soundfile.LibsndfileError, RuntimeError, TypeError):
        pass  # not a format libsndfile reads: FFmpeg gets its turn
    return _PyAVReader(source, name)


def _container_duration(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # container durations are in AV_TIME_BASE (microseconds)
    return None
