"""Streaming decode: a long file (or array) -> mono float32 blocks at a model's rate, memory bounded.

``load_audio`` decodes a whole file at once, which is right for clips and wrong for an hour of
field recording (an hour of 48 kHz stereo is ~1.4 GB as float32). :func:`open_stream` reads the
same inputs in blocks instead: libsndfile's block reader for what ``soundfile`` opens, PyAV frames
for everything else (webm, m4a, ...). Each block is mixed to mono and resampled on the fly with
``soxr.ResampleStream``, which keeps the filter state between blocks, so the concatenated output
equals a one-shot ``soxr.resample`` of the whole signal whatever the block size.

Memory held at any time: one decoded block plus the resampler's filter state, however long the file
(or whatever its header claims). Failures anywhere, at opening or mid-stream (a truncated FLAC's
"lost sync", a corrupt packet), are AudioDecodeError (see :mod:`.readers`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from audiosift.audio.decode import AudioInput, describe, open_reader, resample_stream, to_mono
from audiosift.audio.readers import checked_rate
from audiosift.errors import InvalidAudioError, UsageError

# Ten seconds per block: large enough that per-block overhead (Python, resampler calls) is
# negligible, small enough that a block is a few MB even for 48 kHz 8-channel audio.
DEFAULT_BLOCK_SECONDS = 10.0


class AudioStream:
    """Iterate over mono float32 blocks at ``target_rate``; ``duration_s`` is known up front when the
    container says it (None otherwise), for progress as time done / total time."""

    def __init__(self, source: AudioInput, target_rate: int, sampling_rate: int | None = None,
                 block_seconds: float = DEFAULT_BLOCK_SECONDS):
        if isinstance(block_seconds, bool) or not isinstance(block_seconds, (int, float)) \
                or not math.isfinite(block_seconds) or block_seconds <= 0:
            raise UsageError(f"block_seconds must be a positive number of seconds, got {block_seconds!r}")
        self.source, self.block_seconds = source, block_seconds
        self.target_rate = checked_rate(target_rate, "target_rate", UsageError)
        self.name = describe(source)
        self._reader = open_reader(source, sampling_rate, self.name)
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
    return open_reader(source, sampling_rate, describe(source)).duration_s
