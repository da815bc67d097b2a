"""audiosift's CPU layers (models/cpu_layers.py) equal transformers' own: the time-major Wav2Vec2
conv encoder on both its layouts, and CLAP's fused window attention, shifted windows included."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import audiosift
from audiosift.models import cpu_layers, wav2vec2_encoder
from audiosift.models.wav2vec2_encoder import TimeMajorFeatureEncoder

TOLERANCE = 1e-5  # fp32, the same sums in another order


def _encoders(folder):
    from transformers import AutoModelForAudioClassification

    plain = AutoModelForAudioClassification.from_pretrained(str(folder)).eval()
    fast = AutoModelForAudioClassification.from_pretrained(str(folder)).eval()
    assert wav2vec2_encoder.install(fast)
    return plain, fast


@pytest.mark.parametrize("arch", ["wav2vec2", "hubert"])  # LayerNorm on every layer; GroupNorm on the first
def test_time_major_encoder_equals_transformers(arch, request):
    plain, fast = _encoders(request.getfixturevalue(f"{arch}_model"))
    assert isinstance(fast.base_model.feature_extractor, TimeMajorFeatureEncoder)
    assert list(fast.state_dict()) == list(plain.state_dict())  # save_pretrained still sees the same weights
    rng = np.random.default_rng(0)
    batch = torch.from_numpy(rng.standard_normal((3, 16000 + 333)).astype(np.float32))
    batch[2, 9000:] = 0.0  # a padded row, as a mixed-length batch has
    with torch.inference_mode():
        ours, theirs = fast.base_model.feature_extractor(batch), plain.base_model.feature_extractor(batch)
        assert ours.shape == theirs.shape
        assert (ours - theirs).abs().max().item() < TOLERANCE * max(1.0, theirs.abs().max().item())
        logits_ours, logits_theirs = fast(batch).logits, plain(batch).logits
    assert (logits_ours - logits_theirs).abs().max().item() < 1e-4
    assert (logits_theirs[0] - logits_theirs[1]).abs().max().item() > 1e-2  # the rows differ: it hears them


def test_the_torch_backend_installs_it_and_export_traces_the_original(wav2vec2_model, tmp_path):
    backend = audiosift.load(str(wav2vec2_model), device="cpu", backend="torch").backend
    assert isinstance(backend.model.base_model.feature_extractor, TimeMajorFeatureEncoder)
    assert backend.cpu_layers == ["time-major conv feature encoder"]
    with cpu_layers.original_layers(backend.model):
        assert not isinstance(backend.model.base_model.feature_extractor, TimeMajorFeatureEncoder)
    assert isinstance(backend.model.base_model.feature_extractor, TimeMajorFeatureEncoder)  # restored


def test_other_models_are_left_alone(ast_model):
    from transformers import AutoModelForAudioClassification

    assert not wav2vec2_encoder.install(AutoModelForAudioClassification.from_pretrained(str(ast_model)))


def test_fused_window_attention_equals_transformers(clap_model):
    import copy

    from transformers import ClapConfig, ClapModel

    from audiosift.models.clap_attention import FusedWindowAttention

    config = ClapConfig.from_pretrained(str(clap_model))
    config.audio_config.depths = [2, 2]  # a second block per stage: shifted windows, with their mask
    torch.manual_seed(0)
    plain = ClapModel(config).eval()
    fused = copy.deepcopy(plain)
    assert cpu_layers.install(fused, "cpu") == ["fused window attention"]
    masks = []
    original_forward = FusedWindowAttention.forward

    def spy(self, hidden_states, attention_mask=None, output_attentions=False):
        masks.append(attention_mask is not None)
        return original_forward(self, hidden_states, attention_mask, output_attentions)

    features = _clap_features(clap_model, 3)
    with torch.inference_mode():
        theirs = plain.get_audio_features(input_features=features)
        FusedWindowAttention.forward = spy
        try:
            ours = fused.get_audio_features(input_features=features)
        finally:
            FusedWindowAttention.forward = original_forward
    theirs, ours = (getattr(o, "pooler_output", o) for o in (theirs, ours))
    assert any(masks) and not all(masks)  # shifted windows (with the mask) and plain ones both ran fused
    assert (ours - theirs).abs().max().item() < TOLERANCE
    assert (theirs[0] - theirs[1]).abs().max().item() > 100 * TOLERANCE  # different clips: far apart


def _clap_features(folder, count: int) -> torch.Tensor:
    """``count`` clips of CLAP log-mel input from the model's own feature extractor."""
    from transformers import AutoFeatureExtractor

    extractor = AutoFeatureExtractor.from_pretrained(str(folder))
    rng = np.random.default_rng(1)
    clips = [(0.3 * rng.standard_normal(extractor.sampling_rate * (i + 1))).astype(np.float32) for i in range(count)]
    return torch.from_numpy(extractor(clips, sampling_rate=extractor.sampling_rate, return_tensors="np")["input_features"])


def test_fused_whisper_layers_equal_transformers(whisper_model):
    from transformers import AutoModelForAudioClassification

    from audiosift.models.whisper_encoder import FusedWhisperEncoderLayer

    plain = AutoModelForAudioClassification.from_pretrained(str(whisper_model)).eval()
    fused = AutoModelForAudioClassification.from_pretrained(str(whisper_model)).eval()
    assert cpu_layers.install(fused, "cpu") == ["fused whisper encoder layers"]
    assert all(type(layer) is FusedWhisperEncoderLayer for layer in fused.encoder.layers)
    shape = (3, plain.config.num_mel_bins, 2 * plain.config.max_source_positions)
    features = torch.from_numpy(np.random.default_rng(2).standard_normal(shape).astype(np.float32))
    with torch.inference_mode():
        ours = fused.encoder(features).last_hidden_state
        theirs = plain.encoder(features).last_hidden_state
        logits_ours, logits_theirs = fused(features).logits, plain(features).logits
    assert (ours - theirs).abs().max().item() < TOLERANCE * max(1.0, theirs.abs().max().item())
    assert (logits_ours - logits_theirs).abs().max().item() < 1e-4
    assert (logits_theirs[0] - logits_theirs[1]).abs().max().item() > 1e-2  # the clips differ: it hears them
    with cpu_layers.layers_for_export(fused):  # the exporter traces transformers' layers
        assert not any(type(layer) is FusedWhisperEncoderLayer for layer in fused.encoder.layers)
    assert all(type(layer) is FusedWhisperEncoderLayer for layer in fused.encoder.layers)
