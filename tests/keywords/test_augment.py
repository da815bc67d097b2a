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
