"""The one audio entry point: every format, rate, channel layout and sample type users hand us."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from audiosift.audio import decode, load_audio
from audiosift.errors import AudioDecodeError, AudiosiftError, InvalidAudioError

import audio_factory


@pytest.fixture(scope="module")
def reference(audio_dir):
    """The espeak 'yes' at 16 kHz, straight from the wav, to compare every other encoding with."""
    return load_audio(audio_dir / "yes.wav", 16000)


def _similar(a: np.ndarray, b: np.ndarray, min_correlation: float = 0.97) -> None:
    """Lossy codecs shift and pad a little: compare the best-aligned overlap by correlation."""
    n = min(len(a), len(b))
    best = 0.0
    for shift in range(-200, 201, 4):
        x = a[max(shift, 0): n + min(shift, 0)]
        y = b[max(-shift, 0): n - max(shift, 0)][: len(x)]
        x = x[: len(y)]
        best = max(best, float(np.corrcoef(x, y)[0, 1]))
    assert best >= min_correlation, f"correlation {best:.3f}"


@pytest.mark.parametrize("suffix", sorted(audio_factory.FFMPEG_CODECS))
def test_every_container_decodes_from_path_and_bytes(audio_dir, reference, suffix):
    path = audio_dir / f"yes.{suffix}"
    from_path = load_audio(path, 16000)
    from_bytes = load_audio(path.read_bytes(), 16000)
    np.testing.assert_array_equal(from_path, from_bytes)
    assert from_path.dtype == np.float32 and from_path.ndim == 1
    assert abs(len(from_path) - len(reference)) < 0.1 * 16000  # codec padding is small
    _similar(reference, from_path)


def test_stereo_44k_is_mixed_and_resampled(audio_dir, reference):
    samples, rate = decode(audio_dir / "yes_44k_stereo.wav")
    assert rate == 44100 and samples.shape[0] == 2
    mono = load_audio(audio_dir / "yes_44k_stereo.wav", 16000)
    assert abs(len(mono) - len(reference)) <= 2
    _similar(reference, mono, 0.99)


def test_8k_audio_is_upsampled(audio_dir, reference):
    samples, rate = decode(audio_dir / "yes_8k.wav")
    assert rate == 8000
    upsampled = load_audio(audio_dir / "yes_8k.wav", 16000)
    assert abs(len(upsampled) - len(reference)) <= 2
    _similar(reference, upsampled, 0.9)  # 8 kHz loses everything above 4 kHz


def test_int16_and_float_arrays_agree(audio_dir):
    data, rate = sf.read(audio_dir / "yes.wav", dtype="int16")
    as_int = load_audio(data, 16000, sampling_rate=rate)
    as_float = load_audio(data.astype(np.float32) / 32768.0, 16000, sampling_rate=rate)
    np.testing.assert_allclose(as_int, as_float, atol=1e-6)
    assert np.abs(as_int).max() <= 1.0


def test_pcm_scaling_of_integer_types():
    full_scale = {np.int16: 2 ** 15, np.int32: 2 ** 31}
    for dtype, scale in full_scale.items():
        array = np.array([0, scale // 2, -scale], dtype=dtype)
        samples, _ = decode(array, sampling_rate=16000)
        np.testing.assert_allclose(samples[0], [0.0, 0.5, -1.0], atol=1e-6)
    samples, _ = decode(np.array([128, 255, 0], dtype=np.uint8), sampling_rate=8000)
    np.testing.assert_allclose(samples[0], [0.0, 127 / 128, -1.0], atol=1e-6)


@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
def test_two_d_arrays_either_layout(layout):
    left = np.sin(np.linspace(0, 100, 16000)).astype(np.float32)
    stereo = np.stack([left, np.zeros_like(left)])
    array = stereo if layout == "channels_first" else stereo.T
    mono = load_audio(array, 16000, sampling_rate=16000)
    np.testing.assert_allclose(mono, left / 2, atol=1e-6)


def test_torch_tensor_and_datasets_dicts(audio_dir):
    import torch

    wav = audio_dir / "yes.wav"
    expected = load_audio(wav, 16000)
    array, rate = sf.read(wav, dtype="float32")
    np.testing.assert_allclose(load_audio(torch.from_numpy(array), 16000, sampling_rate=rate), expected, atol=1e-6)
    np.testing.assert_allclose(load_audio({"array": array, "sampling_rate": rate}, 16000), expected, atol=1e-6)
    np.testing.assert_array_equal(load_audio({"path": str(wav), "bytes": None}, 16000), expected)
    np.testing.assert_array_equal(load_audio({"path": "ignored-name.wav", "bytes": wav.read_bytes()}, 16000), expected)


@pytest.mark.parametrize(
    "make_input, error, words",
    [
        (lambda d: d / "missing.wav", AudioDecodeError, "no such file"),
        (lambda d: d, AudioDecodeError, "folder"),
        (lambda d: b"this is plain text, not audio at all" * 10, AudioDecodeError, "not audio"),
        (lambda d: (d / "yes.mp3").read_bytes()[:40], AudioDecodeError, "truncated"),
        (lambda d: np.zeros(0, dtype=np.float32), InvalidAudioError, "sampling rate"),
        (lambda d: {"array": np.zeros(10)}, InvalidAudioError, "sampling_rate"),
        (lambda d: {"text": "hello"}, InvalidAudioError, "'array'"),
        (lambda d: 42, InvalidAudioError, "expected a path"),
        (lambda d: np.zeros((3, 4, 5)), InvalidAudioError, "1-D or 2-D"),
    ],
)
def test_bad_inputs_raise_typed_errors_with_causes(audio_dir, make_input, error, words):
    with pytest.raises(error, match=words) as caught:
        load_audio(make_input(audio_dir), 16000)
    assert isinstance(caught.value, AudiosiftError)


def test_empty_nan_and_zero_channel_arrays():
    with pytest.raises(InvalidAudioError, match="empty"):
        load_audio(np.zeros(0, dtype=np.float32), 16000, sampling_rate=16000)
    with pytest.raises(InvalidAudioError, match="NaN or inf"):
        load_audio(np.array([0.1, np.nan, 0.2], dtype=np.float32), 16000, sampling_rate=16000)
    with pytest.raises(InvalidAudioError, match="NaN or inf"):
        load_audio(np.array([0.1, np.inf], dtype=np.float32), 16000, sampling_rate=16000)
    with pytest.raises(InvalidAudioError, match="zero channels"):
        load_audio(np.zeros((0, 100), dtype=np.float32), 16000, sampling_rate=16000)


def test_empty_file_and_truncated_wav(tmp_path, audio_dir):
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(AudioDecodeError, match="empty"):
        load_audio(empty, 16000)
    header_only = tmp_path / "header.wav"
    header_only.write_bytes((audio_dir / "yes.wav").read_bytes()[:44])
    with pytest.raises(AudiosiftError):
        load_audio(header_only, 16000)
