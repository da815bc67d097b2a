"""The CLAP towers: windows for long clips, embeddings, batching, and the model fingerprint."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from audiosift.inference.options import LoadOptions
from audiosift.models.clap import ClapTowers, window_starts

RATE = 48000
WINDOW = 10 * RATE


@pytest.fixture(scope="module")
def towers(clap_model):
    return ClapTowers(str(clap_model), "tiny-clap", LoadOptions().torch_device(), LoadOptions().torch_dtype())


@pytest.fixture(scope="module")
def clips():
    rng = np.random.default_rng(1)
    return [rng.normal(0, 0.1, n).astype(np.float32) for n in (RATE, 3 * RATE, 7 * RATE)]


@pytest.mark.parametrize("n, expected", [
    (1, [0]), (RATE, [0]), (WINDOW, [0]),
    (WINDOW + 1, [0, 1]),
    (2 * WINDOW, [0, WINDOW]),
    (25 * RATE, [0, WINDOW, 15 * RATE]),  # the last window ends at the clip's end
])
def test_window_starts(n, expected):
    assert window_starts(n, WINDOW) == expected


@pytest.mark.parametrize("n", [WINDOW + 1, 25 * RATE, 3 * WINDOW, 61 * RATE + 123])
def test_windows_are_full_and_cover_every_sample(n):
    starts = window_starts(n, WINDOW)
    covered = np.zeros(n, dtype=bool)
    for start in starts:
        assert 0 <= start and start + WINDOW <= n
        covered[start : start + WINDOW] = True
    assert covered.all()
    assert starts == sorted(set(starts))


def test_towers_read_the_model_and_extractor(towers):
    assert towers.sampling_rate == 48000
    assert towers.window_samples == WINDOW and towers.window_seconds == 10.0
    assert towers.embedding_size == 16
    assert towers.logit_scale == pytest.approx(1 / 0.07, rel=1e-5)  # ClapConfig's initial logit scale


def test_audio_embeddings_unit_length_and_batch_independent(towers, clips):
    one_by_one = np.concatenate([towers.embed_windows([clip], batch_size=1) for clip in clips])
    batched = towers.embed_windows(clips, batch_size=3)
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)
    assert not np.allclose(batched[0], batched[1], atol=1e-3)  # different clips, different embeddings


def test_long_clip_embedding_is_normalised_mean_of_its_windows(towers):
    clip = np.random.default_rng(2).normal(0, 0.1, 23 * RATE).astype(np.float32)
    windows = [clip[:WINDOW], clip[WINDOW : 2 * WINDOW], clip[13 * RATE :]]
    expected = towers.embed_windows(windows, batch_size=3).mean(axis=0)
    expected /= np.linalg.norm(expected)
    short = np.random.default_rng(3).normal(0, 0.1, RATE).astype(np.float32)
    got = towers.embed_clips([short, clip], batch_size=2)
    np.testing.assert_allclose(got[1], expected, atol=1e-5)
    np.testing.assert_allclose(got[0], towers.embed_windows([short], 1)[0], atol=1e-6)


def test_long_clip_ignores_numpy_global_random_state(towers):
    """The extractor's rand_trunc would crop at a random offset; windows never give it the chance."""
    clip = np.random.default_rng(4).normal(0, 0.1, 14 * RATE).astype(np.float32)
    np.random.seed(1)
    first = towers.embed_clips([clip], batch_size=2)
    np.random.seed(2)
    second = towers.embed_clips([clip], batch_size=2)
    np.testing.assert_array_equal(first, second)


def test_text_embeddings_unit_length_and_padding_independent(towers):
    texts = ["dog", "This is a sound of vacuum cleaner.", "rain"]
    together = towers.embed_texts(texts)  # padded to the longest prompt
    alone = np.concatenate([towers.embed_texts([t]) for t in texts])
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_fingerprint_is_content_based_for_folders_and_commit_based_for_hub_snapshots(clap_model, tmp_path):
    device, dtype = LoadOptions().torch_device(), LoadOptions().torch_dtype()
    copy = shutil.copytree(clap_model, tmp_path / "copy")
    original = ClapTowers(str(clap_model), "a", device, dtype).fingerprint()
    assert original.startswith("sha256:") and original.endswith(":float32")
    assert ClapTowers(str(copy), "b", device, dtype).fingerprint() == original  # same files, same print
    config = json.loads((copy / "config.json").read_text())
    config["logit_scale_init_value"] = 20.0
    (copy / "config.json").write_text(json.dumps(config))
    assert ClapTowers(str(copy), "b", device, dtype).fingerprint() != original
    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = shutil.copytree(clap_model, tmp_path / "models--x--clap" / "snapshots" / commit)
    assert ClapTowers(str(snapshot), "x/clap", device, dtype).fingerprint() == f"commit:{commit}:float32"


def test_mel_resize_equals_torch_bicubic():
    """Featurization resizes CLAP's mel to the tower's frames as the model's own interpolate does."""
    import torch

    from audiosift.models.clap import resize_frames

    features = np.random.default_rng(4).standard_normal((2, 1, 1001, 64)).astype(np.float32)
    ours = resize_frames(features, 1024)
    theirs = torch.nn.functional.interpolate(torch.from_numpy(features), (1024, 64), mode="bicubic",
                                             align_corners=True).numpy()
    assert ours.shape == theirs.shape == (2, 1, 1024, 64)
    assert np.abs(ours - theirs).max() < 1e-5


def test_features_come_at_the_towers_frames(clap_model):
    """The mel reaches the model already at HTSAT's length, so neither runtime resizes it."""
    import audiosift

    backend = audiosift.load(str(clap_model), device="cpu").backend
    features = backend.featurize(np.zeros(backend.sampling_rate, np.float32))[0]["input_features"]
    assert backend.swin_frames == 1024 and features.shape[-2] == 1024
