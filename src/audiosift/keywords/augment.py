"""Augmentation and non-speech sounds for keyword training, in numpy (no sox needed).

Every function takes a ``numpy.random.Generator`` so a recipe is reproducible from its seed.
Audio is 16 kHz mono float32 in [-1, 1]. FFTs run at a fast length (scipy's ``next_fast_len``): a
clip's own length is often a large prime times something, where numpy's FFT took 50 ms a call
(measured: 4.1 of 4.8 s of augmenting twenty 24 s chunks of speech).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import fft

RATE = 16000


def speed(samples: np.ndarray, factor: float) -> np.ndarray:
    """Play ``factor`` times faster (tempo and pitch together, like a tape), by resampling."""
    import soxr

    if abs(factor - 1.0) < 1e-3:
        return samples
    return soxr.resample(samples, RATE, RATE / factor).astype(np.float32)


def reverb(samples: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room: exponentially decaying noise as the impulse response, RT60 0.15-0.7 s
    (small room to hall), direct path first; the tail is kept (the clip grows by the RT60)."""
    from scipy.signal import fftconvolve

    rt60 = rng.uniform(0.15, 0.7)
    length = int(rt60 * RATE)
    t = np.arange(length) / RATE
    # -60 dB at rt60: amplitude exp(-6.91 t / rt60), since ln(1000) = 6.91.
    response = rng.standard_normal(length) * np.exp(-6.91 * t / rt60) * rng.uniform(0.1, 0.4)
    response[0] = 1.0
    wet = fftconvolve(samples, response)[: len(samples) + length]
    return _peak_like(wet, samples)


def colour(samples: np.ndarray, rng: np.random.Generator, max_db: float = 8.0) -> np.ndarray:
    """Another microphone, loudspeaker or synthesizer's timbre: a smooth random equaliser (gains of
    up to +-``max_db`` at 8 points evenly spaced on the mel scale, interpolated between them), and a
    quarter of the time the band cut above 3.4-5.5 kHz (telephone-like and 8 kHz voices)."""
    size = fft.next_fast_len(len(samples), real=True)
    spectrum = fft.rfft(samples, size)  # zero-padded to a fast length
    hz = fft.rfftfreq(size, 1.0 / RATE)
    mel = 2595.0 * np.log10(1.0 + hz / 700.0)  # the mel scale: even steps are even steps in pitch
    points = np.linspace(0.0, mel[-1], 8)
    response = 10 ** (np.interp(mel, points, rng.uniform(-max_db, max_db, len(points))) / 20)
    if rng.random() < 0.25:
        response *= 1.0 / (1.0 + (hz / rng.uniform(3400.0, 5500.0)) ** 8)  # an 8th-order low-pass shape
    coloured = fft.irfft(spectrum * response, n=size)[: len(samples)]
    return _peak_like(coloured, samples)


def coloured_noise(length: int, rng: np.random.Generator, exponent: float | None = None) -> np.ndarray:
    """Noise with power ~ 1/f**exponent (0 white, 1 pink, 2 brown), unit RMS."""
    if exponent is None:
        exponent = float(rng.choice([0.0, 1.0, 2.0, rng.uniform(0.0, 2.0)]))
    size = fft.next_fast_len(length, real=True)  # made a little longer, then cut
    spectrum = fft.rfft(rng.standard_normal(size))
    freqs = np.maximum(fft.rfftfreq(size, 1 / RATE), 20.0)
    noise = fft.irfft(spectrum / freqs ** (exponent / 2), n=size)[:length]
    return (noise / (np.sqrt(np.mean(noise ** 2)) + 1e-12)).astype(np.float32)


def tones(length: int, rng: np.random.Generator) -> np.ndarray:
    """Beeps, hums and sweeps: a few sine tones with on/off patterns (alarms, phones, appliances)."""
    t = np.arange(length) / RATE
    out = np.zeros(length)
    for _ in range(rng.integers(1, 4)):
        f0, f1 = rng.uniform(80, 4000, size=2)
        sweep = rng.random() < 0.3
        freq = np.linspace(f0, f1, length) if sweep else np.full(length, f0)
        phase = 2 * np.pi * np.cumsum(freq) / RATE
        gate = (np.sin(2 * np.pi * rng.uniform(0.5, 6) * t) > rng.uniform(-1, 0.8)) if rng.random() < 0.6 else 1.0
        out += np.sin(phase) * gate * rng.uniform(0.2, 1.0)
    return _unit_rms(out)


def music(length: int, rng: np.random.Generator) -> np.ndarray:
    """Music-like sound: notes of a random scale with harmonics and decaying envelopes, chords, and
    a noise-burst beat at a random tempo."""
    out = np.zeros(length)
    tempo = rng.uniform(70, 160)  # beats a minute
    beat = int(RATE * 60 / tempo)
    root = rng.uniform(110, 330)
    scale = root * 2 ** (np.array([0, 2, 4, 5, 7, 9, 11, 12]) / 12)  # a major scale over one octave
    for start in range(0, length, beat):
        for _ in range(rng.integers(1, 4)):  # one to three notes: a chord
            note_len = min(length - start, beat * int(rng.integers(1, 3)))
            t = np.arange(note_len) / RATE
            f = rng.choice(scale) * rng.choice([0.5, 1, 2])
            harmonics = sum(np.sin(2 * np.pi * f * k * t) / k ** rng.uniform(1, 2) for k in range(1, 6))
            out[start: start + note_len] += harmonics * np.exp(-t * rng.uniform(2, 8))
        if rng.random() < 0.7:  # the drum
            hit = min(length - start, int(0.05 * RATE))
            out[start: start + hit] += rng.standard_normal(hit) * np.exp(-np.arange(hit) / (0.01 * RATE))
    return _unit_rms(out)


def background(length: int, rng: np.random.Generator, speech_pool: Sequence[np.ndarray] | None = None) -> np.ndarray:
    """One of: coloured noise, tones, music, or (when given) far-off speech (babble), unit RMS."""
    kinds = ["noise", "noise", "tones", "music"] + (["speech"] if speech_pool else [])
    kind = rng.choice(kinds)
    if kind == "noise":
        return coloured_noise(length, rng)
    if kind == "tones":
        return tones(length, rng)
    if kind == "music":
        return music(length, rng)
    source = speech_pool[int(rng.integers(len(speech_pool)))]
    reps = int(np.ceil(length / max(1, len(source))))
    offset = int(rng.integers(0, max(1, len(source))))
    return _unit_rms(np.roll(np.tile(source, reps), -offset)[:length])


def mix(signal: np.ndarray, noise: np.ndarray, snr_db: float) -> np.ndarray:
    """``signal`` plus ``noise`` scaled to ``snr_db`` below the signal's RMS (over its loud part)."""
    loud = signal[np.abs(signal) > 0.01]
    power = np.mean((loud if len(loud) else signal) ** 2) + 1e-12
    scale = np.sqrt(power / 10 ** (snr_db / 10)) / (np.sqrt(np.mean(noise ** 2)) + 1e-12)
    return (signal + noise[: len(signal)] * scale).astype(np.float32)


def gain(samples: np.ndarray, rng: np.random.Generator, low_db: float = -24.0, high_db: float = 0.0) -> np.ndarray:
    """Scale the peak to between ``low_db`` and ``high_db`` dBFS (quiet far talkers to full scale)."""
    peak = np.max(np.abs(samples)) + 1e-9
    return (samples / peak * 10 ** (rng.uniform(low_db, high_db) / 20)).astype(np.float32)


def _peak_like(out: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``out`` scaled to ``reference``'s peak: a filter changes the timbre, not the level."""
    return (out / (np.max(np.abs(out)) + 1e-9) * np.max(np.abs(reference))).astype(np.float32)


def _unit_rms(x: np.ndarray) -> np.ndarray:
    return (x / (np.sqrt(np.mean(x ** 2)) + 1e-12)).astype(np.float32)
