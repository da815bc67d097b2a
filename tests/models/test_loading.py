"""Finding and loading models: presets, local folders, the HF cache, and failing fast offline."""

from __future__ import annotations

import shutil
import time

import numpy as np
import pytest

import audiosift
from audiosift.errors import ModelUnavailableError, UnknownModelError, UnsupportedModelError
from audiosift.models.loading import resolve
from audiosift.models.presets import PRESETS


def test_presets_point_at_the_seed_models():
    assert PRESETS["intent"].model_id == "anton-l/xtreme_s_xlsr_300m_minds14"
    assert PRESETS["keywords"].model_id == "MIT/ast-finetuned-speech-commands-v2"
    assert PRESETS["language"].model_id == "sanchit-gandhi/whisper-medium-fleurs-lang-id"
    assert PRESETS["zero-shot"].model_id == "laion/clap-htsat-unfused"
    names = [m["name"] for m in audiosift.list_models()]
    assert names == list(PRESETS)


def test_unknown_name_lists_presets():
    with pytest.raises(UnknownModelError) as caught:
        audiosift.load("no such model!")
    for name in PRESETS:
        assert name in str(caught.value)


def test_folder_without_config_is_rejected(tmp_path):
    with pytest.raises(UnknownModelError, match="no config.json"):
        audiosift.load(str(tmp_path))


def test_local_folder_loads_with_metadata(ast_model):
    clf = audiosift.load(str(ast_model), device="cpu")
    assert clf.model_id == str(ast_model)
    assert clf.sampling_rate == 16000
    assert len(clf.labels) == 35 and "marvin" in clf.labels
    assert resolve(str(ast_model)).kind == "local"


def _fake_hub_cache(root, repo_id: str, model_folder) -> None:
    """Lay out a Hugging Face hub cache entry (models--org--name/snapshots/<commit>) by hand."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    entry = root / ("models--" + repo_id.replace("/", "--"))
    shutil.copytree(model_folder, entry / "snapshots" / commit)
    (entry / "refs").mkdir(parents=True)
    (entry / "refs" / "main").write_text(commit)


def test_hub_id_loads_from_the_cache_offline(tmp_path, monkeypatch, ast_model):
    _fake_hub_cache(tmp_path, "someone/tiny-ast", ast_model)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    clf = audiosift.load("someone/tiny-ast", device="cpu", cache_dir=str(tmp_path))
    assert clf.model_id == "someone/tiny-ast"
    assert len(clf(np.zeros(16000, np.float32), sampling_rate=16000)) == 5


def test_uncached_hub_id_offline_fails_fast_with_advice(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError) as caught:
        audiosift.load("MIT/ast-finetuned-speech-commands-v2", cache_dir=str(tmp_path))
    assert time.monotonic() - started < 10
    message = str(caught.value)
    assert "hf download MIT/ast-finetuned-speech-commands-v2" in message
    assert "--model /path/to/a/local/folder" in message and "HF_HUB_OFFLINE" in message


def test_unreachable_hub_fails_fast(tmp_path, monkeypatch):
    import huggingface_hub

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    calls = []

    def unreachable(repo_id, revision=None, timeout=None, **kwargs):
        calls.append(timeout)
        raise ConnectionError("Name or service not known")

    monkeypatch.setattr(huggingface_hub, "model_info", unreachable)
    with pytest.raises(ModelUnavailableError, match="cannot be reached") as caught:
        audiosift.load("laion/clap-htsat-unfused", cache_dir=str(tmp_path))
    assert "hf download laion/clap-htsat-unfused" in str(caught.value)
    assert calls and calls[0] is not None and calls[0] <= 30  # a bounded timeout, never a hang


def test_text_model_is_unsupported(tmp_path):
    from transformers import BertConfig, BertModel

    BertModel(BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                         vocab_size=50)).save_pretrained(tmp_path)
    with pytest.raises(UnsupportedModelError, match="audio-classification"):
        audiosift.load(str(tmp_path))


def test_bad_options_are_rejected_in_one_place(ast_model):
    with pytest.raises(ValueError, match="device must be one of"):
        audiosift.load(str(ast_model), device="tpu")
    with pytest.raises(ValueError, match="dtype must be one of"):
        audiosift.load(str(ast_model), dtype="int4")
    with pytest.raises(ValueError, match="batch_size"):
        audiosift.load(str(ast_model), batch_size=0)


def test_multi_label_models_use_sigmoid(tmp_path):
    import json

    import model_factory

    folder = model_factory.build_ast(tmp_path / "multi", labels=["a", "b", "c"])
    config = json.loads((folder / "config.json").read_text())
    config["problem_type"] = "multi_label_classification"
    (folder / "config.json").write_text(json.dumps(config))
    clf = audiosift.load(str(folder), device="cpu")
    scores = clf.scores([np.random.default_rng(0).uniform(-0.5, 0.5, 16000).astype(np.float32)])[0]
    assert abs(scores.sum() - 1.0) > 1e-3  # independent sigmoids, not a softmax
    logits = _logits(clf, np.random.default_rng(0).uniform(-0.5, 0.5, 16000).astype(np.float32))
    np.testing.assert_allclose(scores, 1 / (1 + np.exp(-logits)), atol=1e-5)


def _logits(clf, waveform):
    import torch

    features = clf.backend.featurize(waveform)
    with torch.inference_mode():
        return clf.backend.model(**{k: torch.from_numpy(v) for k, v in features.items()}).logits[0].numpy()


@pytest.mark.parametrize("dtype, atol", [("bfloat16", 3e-2), ("float16", 5e-3)])
def test_half_precision_scores_close_to_float32(ast_model, audio_dir, dtype, atol):
    """The model really runs in half precision, and its scores stay close to float32: closer than the
    clips are to one another (so the comparison could catch scores of the wrong clip)."""
    import torch

    from audiosift.audio import load_audio

    clips = [load_audio(audio_dir / name, 16000) for name in ("yes.wav", "sentence.wav", "tone.wav", "noise.wav")]
    full = audiosift.load(str(ast_model), device="cpu").scores(clips)
    clf = audiosift.load(str(ast_model), device="cpu", dtype=dtype)
    assert next(clf.backend.model.parameters()).dtype == getattr(torch, dtype)
    half = clf.scores(clips)
    distances = np.abs(half[:, None, :] - full[None, :, :]).max(axis=2)  # half row i vs float32 row j
    assert np.diag(distances).max() <= atol
    assert np.diag(distances).max() > 0  # it did not silently run in float32
    assert (distances + np.eye(len(clips))).min() >= 2 * atol  # every other clip is far further
    top = clf(clips[0], sampling_rate=16000, top_k=3)
    assert [p["label"] for p in top] == [clf.labels[i] for i in np.argsort(-half[0], kind="stable")[:3]]
