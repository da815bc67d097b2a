"""Streaming decode: same samples as the one-shot decoder, in blocks, with bounded memory."""

from __future__ import annotations

import subprocess
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from audiosift.audio import load_audio
from audiosift.audio.stream import audio_duration, open_stream
from audiosift.errors import AudioDecodeError, InvalidAudioError


@pytest.mark.parametrize("name", ["yes.wav", "yes_44k_stereo.wav", "yes.flac", "yes.webm", "yes.m4a", "yes.mp3"])
@pytest.mark.parametrize("block_seconds", [0.05, 0.37, 10.0])
def test_blocks_join_to_what_load_audio_gives(audio_dir, name, block_seconds):
    path = audio_dir / name
    stream = open_stream(path, 16000, block_seconds=block_seconds)
    blocks = list(stream)
    expected = load_audio(path, 16000)
    assert all(b.dtype == np.float32 and b.ndim == 1 for b in blocks)
    np.testing.assert_array_equal(np.concatenate(blocks), expected)
    if block_seconds < 0.1:
        assert len(blocks) > 3  # really streamed, not decoded at once


def test_duration_is_known_before_decoding(audio_dir):
    for name in ["yes.wav", "yes_44k_stereo.wav", "yes.webm", "yes.m4a"]:
        path = audio_dir / name
        true_duration = len(load_audio(path, 16000)) / 16000
        assert audio_duration(path) == pytest.approx(true_duration, abs=0.05)
        assert open_stream(path, 16000).duration_s == pytest.approx(true_duration, abs=0.05)


def test_arrays_and_bytes_stream_too(audio_dir):
    rng = np.random.default_rng(0)
    stereo = rng.uniform(-0.5, 0.5, (2, 44100)).astype(np.float32)
    streamed = np.concatenate(list(open_stream(stereo, 16000, sampling_rate=44100, block_seconds=0.1)))
    np.testing.assert_array_equal(streamed, load_audio(stereo, 16000, sampling_rate=44100))
    data = (audio_dir / "yes.webm").read_bytes()
    np.testing.assert_array_equal(np.concatenate(list(open_stream(data, 16000, block_seconds=0.2))),
                                  load_audio(data, 16000))


def test_bad_inputs_raise_typed_errors(tmp_path):
    with pytest.raises(AudioDecodeError, match="no such file"):
        open_stream(tmp_path / "missing.wav", 16000)
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioDecodeError, match="empty"):
        open_stream(tmp_path / "empty.wav", 16000)
    (tmp_path / "notes.mp3").write_text("this is not audio at all")
    with pytest.raises(AudioDecodeError):
        list(open_stream(tmp_path / "notes.mp3", 16000))
    with pytest.raises(InvalidAudioError, match="NaN"):
        list(open_stream(np.array([0.1, np.nan, 0.2], dtype=np.float32), 16000, sampling_rate=16000))
    with pytest.raises(ValueError, match="block_seconds"):
        open_stream(np.zeros(10, np.float32), 16000, sampling_rate=16000, block_seconds=0)


def write_long_wav(path, minutes: float, rate: int = 44100, channels: int = 2):
    """A long noise file written block by block (never whole in memory)."""
    rng = np.random.default_rng(1)
    with sf.SoundFile(path, "w", samplerate=rate, channels=channels, subtype="PCM_16") as handle:
        for _ in range(int(minutes * 60)):
            handle.write(rng.uniform(-0.3, 0.3, (rate, channels)).astype(np.float32))
    return path


def peak_traced_bytes(blocks) -> tuple[int, int]:
    """(samples seen, peak bytes Python/numpy held) while consuming ``blocks``."""
    tracemalloc.start()
    try:
        count = 0
        for block in blocks:
            count += len(block)
        return count, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_bounded_on_a_long_file(tmp_path):
    # 10 minutes of 44.1 kHz stereo: 106 MB as float32 if decoded whole; 38 MB once mono at 16 kHz.
    path = write_long_wav(tmp_path / "long.wav", minutes=10)
    count, peak = peak_traced_bytes(open_stream(path, 16000, block_seconds=2.0))
    assert count == 10 * 60 * 16000
    whole_mono = count * 4
    # One 2 s block of 44.1 kHz stereo float32 is 0.7 MB; allow a few for the mix, resampler and output.
    assert peak < 4_000_000, f"peak {peak / 1e6:.1f} MB"
    assert peak < whole_mono / 10


def test_memory_stays_bounded_through_pyav(tmp_path):
    wav = write_long_wav(tmp_path / "long.wav", minutes=3, rate=48000, channels=1)
    webm = tmp_path / "long.webm"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-c:a", "libopus", str(webm)], check=True)
    count, peak = peak_traced_bytes(open_stream(webm, 16000, block_seconds=2.0))
    assert count == pytest.approx(3 * 60 * 16000, abs=1600)
    assert peak < 4_000_000, f"peak {peak / 1e6:.1f} MB (whole file mono: {count * 4 / 1e6:.0f} MB)"
