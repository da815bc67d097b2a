"""Hostile inputs: every decoder failure is an AudiosiftError, and memory stays bounded whatever a
file claims (long silence, a lying header, zeroed timestamps, unknown length). Files are made here."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import importlib
from audiosift.audio import DEFAULT_MAX_SECONDS, decode, load_audio, load_clip, resample, to_mono
from audiosift.audio.stream import open_stream
from audiosift.errors import AudioDecodeError, AudioTooLongError, InvalidAudioError, UsageError

decode_module = importlib.import_module("audiosift.audio.decode")  # the attribute `decode` is the function
FFMPEG = ["ffmpeg", "-loglevel", "error", "-y"]
LONG_FLAC_SECONDS = 7200  # 2 h of 16 kHz silence: 1.3 MB of FLAC, 460 MB as float32 if decoded whole
ZEROED_WEBM_SECONDS = 300  # 5 min of 48 kHz opus: 58 MB as float32 if decoded whole


def _ffmpeg(*args: str) -> None:
    subprocess.run(FFMPEG + list(args), check=True)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    sr = 16000
    t = np.arange(int(0.1 * sr)) / sr
    sf.write(folder / "short.flac", (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), sr)
    _ffmpeg("-f", "lavfi", "-i", f"anullsrc=r={sr}:cl=mono", "-t", str(LONG_FLAC_SECONDS), "-c:a", "flac",
            "-sample_fmt", "s16", str(folder / "silent.flac"))
    # Opus in webm with every timestamp zeroed: the container then claims a few ms for 5 minutes.
    encode = subprocess.Popen(FFMPEG + ["-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-t", str(ZEROED_WEBM_SECONDS),
                                        "-c:a", "libopus", "-b:a", "6k", "-frame_duration", "60", "-f", "webm", "-"],
                              stdout=subprocess.PIPE)
    subprocess.run(FFMPEG + ["-f", "webm", "-i", "-", "-c", "copy", "-bsf:a", "setts=ts=0",
                             str(folder / "zeroed.webm")],
                   stdin=encode.stdout, check=True)
    assert encode.wait() == 0
    return folder


def _peak_traced(work) -> tuple[object, int]:
    """(work(), peak bytes Python/numpy allocated while it ran)."""
    tracemalloc.start()
    try:
        return work(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _expect(error, words, work):
    with pytest.raises(error, match=words):
        work()


def _one_hz_flac(path: Path, source: Path) -> Path:
    """``source`` with the STREAMINFO sample rate patched to 1 Hz: a tiny file whose header asks for a
    huge resample. The rate is the top 20 bits at byte 18: after 'fLaC' (4 bytes), the metadata block
    header (4) and STREAMINFO's min/max block and frame sizes (2 + 2 + 3 + 3)."""
    data = bytearray(source.read_bytes())
    assert data[:4] == b"fLaC"
    packed = int.from_bytes(data[18:21], "big")
    data[18:21] = ((1 << 4) | (packed & 0xF)).to_bytes(3, "big")
    path.write_bytes(bytes(data))
    return path


# --- sampling rates ------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", ["abc", "16000", float("nan"), float("inf"), True, 16, 0, -16000, 16000.5, 1e9])
def test_bad_sampling_rates_are_refused_with_what_was_expected(rate):
    array = np.zeros(1600, dtype=np.float32)
    for work in (lambda: load_audio(array, 16000, sampling_rate=rate),
                 lambda: load_audio({"array": array, "sampling_rate": rate}, 16000),
                 lambda: open_stream(array, 16000, sampling_rate=rate)):
        with pytest.raises(InvalidAudioError, match=r"sampling rate .*expected a whole number .* Hz"):
            work()


@pytest.mark.parametrize("rate", [np.int64(8000), 8000.0, 8000])
def test_integral_sampling_rates_of_any_type_are_accepted(rate):
    assert len(load_audio(np.zeros(800, dtype=np.float32), 16000, sampling_rate=rate)) == 1600


def test_header_rate_of_1_hz_is_refused_not_resampled(hostile, tmp_path):
    bad = _one_hz_flac(tmp_path / "one_hz.flac", hostile / "short.flac")
    assert sf.info(str(bad)).samplerate == 1  # the header really says 1 Hz
    for work in (lambda: load_audio(bad, 16000), lambda: open_stream(bad, 16000)):
        _, peak = _peak_traced(lambda: _expect(AudioDecodeError, "1 Hz .*corrupt", work))
        assert peak < 5_000_000  # resampled as 1 Hz, the 0.1 s tone would be 100 MB at 16 kHz


# --- sample types and broken files -----------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_half_precision_tensors_are_widened(dtype):
    import torch

    wave = torch.linspace(-0.5, 0.5, 1600)
    got = load_audio(wave.to(getattr(torch, dtype)), 16000, sampling_rate=16000)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, wave.numpy(), atol=4e-3)  # bfloat16 keeps 8 bits of mantissa


def test_wav_with_80_bits_per_sample_is_a_decode_error(tmp_path):
    path = tmp_path / "bps80.wav"
    sf.write(path, np.zeros(1000, np.int16), 16000, subtype="PCM_16")
    data = bytearray(path.read_bytes())
    fmt = data.find(b"fmt ")
    data[fmt + 22 : fmt + 24] = struct.pack("<H", 80)  # bits per sample: 8 + 14 bytes into "fmt "
    path.write_bytes(bytes(data))
    _expect(AudioDecodeError, "cannot decode", lambda: load_audio(path, 16000))
    _expect(AudioDecodeError, "cannot decode", lambda: list(open_stream(path, 16000)))


def _piped_flac(wav: Path) -> bytes:
    """FLAC written to a pipe: ffmpeg cannot seek back to fill in the length."""
    return subprocess.run(FFMPEG + ["-i", str(wav), "-f", "flac", "-"], capture_output=True, check=True).stdout


def test_flac_of_unknown_length_decodes_whole(audio_dir, tmp_path):
    piped = tmp_path / "piped.flac"
    piped.write_bytes(_piped_flac(audio_dir / "yes.wav"))  # written to a pipe: ffmpeg cannot seek back to fill in the length
    assert sf.info(str(piped)).frames >= 2**62  # libsndfile: SF_COUNT_MAX, "unknown"
    expected = load_audio(audio_dir / "yes.wav", 16000)
    np.testing.assert_allclose(load_audio(piped, 16000), expected, atol=1e-4)
    stream = open_stream(piped, 16000, block_seconds=0.1)
    np.testing.assert_allclose(np.concatenate(list(stream)), expected, atol=1e-4)


def test_truncated_flac_fails_typed_mid_stream(audio_dir, tmp_path):
    flac = tmp_path / "noise.flac"
    sf.write(flac, np.random.default_rng(0).uniform(-0.5, 0.5, 3 * 16000).astype(np.float32), 16000)
    cut = tmp_path / "cut.flac"
    cut.write_bytes(flac.read_bytes()[: flac.stat().st_size * 2 // 3])  # header intact, says 3 s
    _expect(AudioDecodeError, "could not decode", lambda: load_audio(cut, 16000))
    stream = open_stream(cut, 16000, block_seconds=0.1)  # opening succeeds: the header is intact
    _expect(AudioDecodeError, r"could not decode audio after 1\.\d s .*lost sync", lambda: list(stream))
    # The same through FFmpeg (a FLAC of unknown length goes there), cut in half:
    piped = _piped_flac(audio_dir / "yes.wav")
    _expect(AudioDecodeError, "could not decode", lambda: list(open_stream(piped[: len(piped) // 2], 16000)))


def test_unreadable_file_says_permission_denied(audio_dir, monkeypatch):
    def denied(path, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    # Tests run as root, where chmod 000 does not stop reads: make open() refuse as it would.
    monkeypatch.setattr(decode_module, "open", denied, raising=False)
    for work in (lambda: load_audio(audio_dir / "yes.wav", 16000), lambda: open_stream(audio_dir / "yes.wav", 16000)):
        _expect(AudioDecodeError, "permission denied", work)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads chmod-000 files; the patched-open test covers this")
def test_chmod_000_says_permission_denied(audio_dir, tmp_path):
    path = tmp_path / "locked.wav"
    path.write_bytes((audio_dir / "yes.wav").read_bytes())
    path.chmod(0)
    _expect(AudioDecodeError, "permission denied", lambda: load_audio(path, 16000))


def test_dict_bytes_that_are_not_bytes():
    _expect(InvalidAudioError, "'bytes' must be encoded audio",
            lambda: load_audio({"bytes": "RIFF...", "path": "a.wav"}, 16000))


# --- duration limits -------------------------------------------------------------------------------


def test_truncate_returns_the_resampled_prefix_and_the_full_duration(audio_dir):
    path = audio_dir / "yes_44k_stereo.wav"
    samples, rate = decode(path)
    clip = load_clip(path, 16000, max_seconds=0.25, too_long="truncate")
    assert clip.truncated and clip.rate == 16000
    assert clip.duration_s == pytest.approx(samples.shape[-1] / rate)
    np.testing.assert_array_equal(clip.samples, resample(to_mono(samples[:, : int(0.25 * rate)]), rate, 16000))
    assert len(clip.samples) == 4000
    whole = load_clip(path, 16000, max_seconds=clip.duration_s + 1, too_long="truncate")
    assert not whole.truncated and whole.duration_s == clip.duration_s
    cut, cut_rate = decode(path, max_seconds=0.25, too_long="truncate")
    assert cut_rate == rate and cut.shape == (2, int(0.25 * rate))


def test_refuse_names_the_limit_and_the_duration(audio_dir):
    path = audio_dir / "yes.wav"
    duration = sf.info(str(path)).duration
    assert len(load_audio(path, 16000, max_seconds=duration)) > 0  # exactly at the limit is fine
    with pytest.raises(AudioTooLongError, match=rf"{duration:.1f} s long .*at most 0.5 s \(max_seconds\)"):
        load_audio(path, 16000, max_seconds=0.5)
    array = np.zeros(16000, np.float32)
    _expect(AudioTooLongError, "at most 0.5 s", lambda: load_audio(array, 16000, sampling_rate=16000, max_seconds=0.5))
    prefix = load_audio(array, 16000, sampling_rate=16000, max_seconds=0.5, too_long="truncate")
    assert len(prefix) == 8000


def test_default_limit_points_to_window(tmp_path):
    # An hour and a second at 1 kHz: 14 MB, past DEFAULT_MAX_SECONDS with no bound given.
    array = np.zeros(int((DEFAULT_MAX_SECONDS + 1) * 1000), np.float32)
    _expect(AudioTooLongError, "--window", lambda: load_audio(array, 16000, sampling_rate=1000))


@pytest.mark.parametrize("kwargs", [{"max_seconds": 0}, {"max_seconds": float("nan")}, {"max_seconds": "10"},
                                    {"max_seconds": True}, {"too_long": "cut"}])
def test_bad_limits_are_usage_errors(kwargs):
    _expect(UsageError, "max_seconds|too_long",
            lambda: load_audio(np.zeros(160, np.float32), 16000, sampling_rate=16000, **kwargs))


def test_long_silent_flac_is_bounded(hostile):
    path = hostile / "silent.flac"
    clip, peak = _peak_traced(lambda: load_clip(path, 16000, max_seconds=1.5, too_long="truncate"))
    assert len(clip.samples) == 24000 and clip.truncated
    assert clip.duration_s == pytest.approx(LONG_FLAC_SECONDS)  # the header's claim, for a warning
    assert peak < 10_000_000, f"peak {peak / 1e6:.0f} MB"
    # No bound given: refused at once from the header (decoding it would hold 460 MB).
    _, peak = _peak_traced(lambda: _expect(AudioTooLongError, f"{LONG_FLAC_SECONDS:.1f} s long.*--window",
                                           lambda: load_audio(path, 16000)))
    assert peak < 10_000_000


def test_zeroed_timestamp_webm_is_counted_not_trusted(hostile):
    path = hostile / "zeroed.webm"
    assert open_stream(path, 16000).duration_s < 1  # the container's claim: wrong
    clip, peak = _peak_traced(lambda: load_clip(path, 16000, max_seconds=2, too_long="truncate"))
    assert len(clip.samples) == 32000 and clip.truncated
    assert clip.duration_s is None  # the claim is below what was decoded: unknown, not 0.02 s
    assert peak < 10_000_000, f"peak {peak / 1e6:.0f} MB"
    refuse = lambda: load_audio(path, 16000, max_seconds=60)  # noqa: E731
    _, peak = _peak_traced(lambda: _expect(AudioTooLongError, "more than 60 s", refuse))
    assert peak < 2 * 60 * 16000 * 4 + 10_000_000  # at most the 60 s kept (4 MB) twice, plus a block
    count, peak = _peak_traced(lambda: sum(len(block) for block in open_stream(path, 16000, block_seconds=2.0)))
    assert count == pytest.approx(ZEROED_WEBM_SECONDS * 16000, abs=1600)
    assert peak < 4_000_000, f"streaming peak {peak / 1e6:.1f} MB"


def test_peak_rss_stays_small_in_a_fresh_process(hostile, tmp_path):
    """What tracemalloc cannot see (libsndfile, FFmpeg buffers): the whole process's peak RSS."""
    bad = _one_hz_flac(tmp_path / "one_hz.flac", hostile / "short.flac")
    script = textwrap.dedent(f"""
        import json, resource, sys
        from audiosift.audio import load_audio, load_clip
        from audiosift.errors import AudiosiftError
        def rss(): return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        start = rss()
        load_clip({str(hostile / "silent.flac")!r}, 16000, max_seconds=1.5, too_long="truncate")
        load_clip({str(hostile / "zeroed.webm")!r}, 16000, max_seconds=1.5, too_long="truncate")
        for path in ({str(hostile / "silent.flac")!r}, {str(bad)!r}):
            try:
                load_audio(path, 16000)
            except AudiosiftError:
                pass
        print(json.dumps({{"start": start, "peak": rss()}}))
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(Path(decode_module.__file__).parents[2]),
                                                                     os.environ.get("PYTHONPATH")])))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    rss = json.loads(done.stdout.strip().splitlines()[-1])
    growth = rss["peak"] - rss["start"]
    assert growth < 100 * 2**20, f"peak RSS grew {growth / 2**20:.0f} MiB"  # decoded whole: 460 MB+
