"""Augmentation for keyword training: each transform keeps what it must (length, level) and changes
what it claims to change."""

from __future__ import annotations

import numpy as np

from audiosift.keywords import augment


def band_energy(samples: np.ndarray, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(samples)) ** 2
    hz = np.fft.rfftfreq(len(samples), 1 / augment.RATE)
    return float(spectrum[(hz >= low) & (hz < high)].sum())


def test_colour_changes_the_timbre_not_the_length_or_peak():
    rng = np.random.default_rng(0)
    noise = augment.coloured_noise(augment.RATE, rng, exponent=0.0) * 0.1
    shares = []
    for seed in range(12):
        coloured = augment.colour(noise, np.random.default_rng(seed))
        assert coloured.shape == noise.shape and coloured.dtype == np.float32
        assert np.isclose(np.abs(coloured).max(), np.abs(noise).max(), rtol=1e-5)
        shares.append(band_energy(coloured, 4000, 8000) / band_energy(coloured, 0, 8000))
    white_share = band_energy(noise, 4000, 8000) / band_energy(noise, 0, 8000)  # ~0.5
    # Random equalisers move the balance both ways, and the low-pass draws cut the top band.
    assert 0.4 < white_share < 0.6
    assert min(shares) < 0.1 and max(shares) > white_share * 1.1


def test_coloured_noise_at_an_awkward_length_keeps_its_length_slope_and_level():
    """The FFTs run at a fast length and are cut back: a prime length must still give that many
    samples at unit RMS, with power density falling as 1/f**exponent (x0.5 an octave for pink)."""
    rng = np.random.default_rng(1)
    length = 48_611  # a prime
    for exponent in (0.0, 1.0, 2.0):
        noise = augment.coloured_noise(length, rng, exponent)
        assert noise.shape == (length,) and noise.dtype == np.float32
        assert np.isclose(np.sqrt(np.mean(noise.astype(np.float64) ** 2)), 1.0, rtol=1e-3)
        per_hz = [band_energy(noise, low, 2 * low) / low for low in (500, 1000)]
        assert np.isclose(per_hz[1] / per_hz[0], 2.0 ** -exponent, rtol=0.2)
    coloured = augment.colour(noise * 0.1, rng)
    assert coloured.shape == (length,) and np.abs(coloured).max() > 0
