"""ONNX export and the onnxruntime backend: parity with torch, int8 fidelity, the export cache, threads,
torch-free loading, and the ``export`` CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import audiosift
from audiosift.cli.main import main
from audiosift.errors import OutputError, UnsupportedModelError, UsageError
from audiosift.inference.engine import score_waveforms
from audiosift.models import onnx_export
from audiosift.models.onnx_backend import MANIFEST, ORT_THREADS, OnnxClapBackend, OnnxClassifierBackend
from audiosift.models.onnx_export import export_model

TOLERANCE = 1e-4  # ORT fp32 against our torch backend (itself equal to transformers.pipeline)
# Clip lengths (s): mixed, so wav2vec2 runs one padded, masked batch; two equal ones give HuBERT (no
# mask: grouped by length) a real batch of two. Fixed-window models pad every clip to their window.
SECONDS = {"ast": (0.5, 0.9, 0.9, 1.2), "wav2vec2": (0.8, 1.5, 1.5, 2.2), "hubert": (0.8, 1.5, 1.5, 2.2),
           "whisper": (0.6, 1.5, 1.5, 3.0)}


def test_clips(rate: int, seconds) -> list[np.ndarray]:
    """Four different sounds (a rising chirp, noise, a falling chirp, an amplitude-modulated tone)."""
    rng = np.random.default_rng(11)
    clips = []
    for i, length in enumerate(seconds):
        t = np.arange(int(length * rate)) / rate
        kinds = [np.sin(2 * np.pi * (200 + 900 * t) * t), rng.standard_normal(len(t)) * 0.5,
                 np.sin(2 * np.pi * (1500 - 400 * t) * t), np.sin(2 * np.pi * 440 * t) * np.sin(2 * np.pi * 3 * t)]
        clips.append((0.4 * kinds[i % 4]).astype(np.float32))
    return clips


test_clips.__test__ = False  # a helper, not a test


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """``exported(name, source)``: the fp32 export of ``source``, made once per module."""
    root, made = tmp_path_factory.mktemp("onnx"), {}

    def get(name: str, source: Path) -> Path:
        if name not in made:
            made[name] = root / name
            export_model(str(source), made[name])
        return made[name]

    return get


def _one_by_one(backend, waveforms):
    return np.concatenate([backend.forward(backend.collate([backend.featurize(w)])[0][1]) for w in waveforms])


def _collated(backend, waveforms):
    features = [backend.featurize(w) for w in waveforms]
    out = np.zeros((len(waveforms), len(backend.labels)), np.float32)
    batches = backend.collate(features)
    for positions, batch in batches:
        out[positions] = backend.forward(batch)
    return out, batches


def _min_spread(scores: np.ndarray) -> float:
    return min(np.abs(scores[i] - scores[j]).max() for i in range(len(scores)) for j in range(i + 1, len(scores)))


@pytest.mark.parametrize("arch", ["ast", "wav2vec2", "hubert", "whisper"])
def test_onnx_float32_matches_torch(arch, request, exported):
    source = request.getfixturevalue(f"{arch}_model")
    reference_backend = audiosift.load(str(source), device="cpu").backend
    classifier = audiosift.load(str(exported(arch, source)))
    backend = classifier.backend
    assert isinstance(backend, OnnxClassifierBackend) and classifier.labels == reference_backend.labels
    waveforms = test_clips(backend.sampling_rate, SECONDS[arch])
    reference = _one_by_one(reference_backend, waveforms)
    single = _one_by_one(backend, waveforms)
    batched, batches = _collated(backend, waveforms)
    through_engine = score_waveforms(backend, waveforms, 8)
    for scores in (single, batched, through_engine):
        assert np.abs(scores - reference).max() < TOLERANCE
    assert _min_spread(reference) > 100 * TOLERANCE  # the model hears its input: parity means something
    if arch == "wav2vec2":  # one padded batch with an attention mask marking each clip's length
        (positions, batch), = batches
        assert len(positions) == 4 and batch["attention_mask"].sum(1).tolist() == [len(w) for w in waveforms]
    assert max(len(positions) for positions, _ in batches) >= 2


def test_manifest_records_source_and_fidelity(ast_model, exported):
    manifest = json.loads((exported("ast", ast_model) / MANIFEST).read_text())
    assert manifest["precision"] == "float32" and manifest["files"] == {"model": "model.onnx"}
    assert manifest["source"]["model_id"] == str(ast_model)
    assert manifest["source"]["fingerprint"].startswith("sha256:")
    parity = manifest["fidelity"]["float32_vs_source"]
    assert parity["max_score_difference"] < TOLERANCE and parity["logit_cosine"] > 0.99999
    assert parity["top1_agreement"] == 1.0 and parity["clips"] == 4


def test_clap_towers_match_torch(clap_model, exported):
    reference = audiosift.load(str(clap_model), device="cpu")
    model = audiosift.load(str(exported("clap", clap_model)))
    assert isinstance(model.backend, OnnxClapBackend)
    waveforms = test_clips(48000, (1.0, 3.0, 7.0, 12.0))  # 12 s: two windows, averaged
    expected = reference.backend.embed_clips(waveforms, 1)
    for batch_size in (1, 4):
        assert np.abs(model.backend.embed_clips(waveforms, batch_size) - expected).max() < TOLERANCE
    prompts = ["This is a sound of dog.", "This is a sound of rain.", "siren"]
    text = reference.backend.embed_texts(prompts)
    assert np.abs(model.backend.embed_texts(prompts) - text).max() < TOLERANCE
    labels = ["dog", "rain", "siren", "speech"]
    scores = model.scores(waveforms, model.label_set(labels))
    assert np.abs(scores - reference.scores(waveforms, reference.label_set(labels))).max() < TOLERANCE
    assert _min_spread(expected) > 100 * TOLERANCE
    assert model.backend.fingerprint() != reference.backend.fingerprint()  # its text cache is its own


def test_int8_export_stores_its_fidelity_and_runs(ast_model, exported, tmp_path, capsys):
    folder = tmp_path / "ast-int8"
    assert main(["export", str(ast_model), "--output", str(folder), "--int8"]) == 0
    captured = capsys.readouterr()
    assert "int8 vs float32: max score difference" in captured.err and "exported" in captured.out
    manifest = json.loads((folder / MANIFEST).read_text())
    assert manifest["precision"] == "int8" and manifest["files"] == {"model": "model.int8.onnx"}
    assert not (folder / "model.onnx").exists()  # the folder ships the int8 graph only
    numbers = manifest["fidelity"]["int8_vs_float32"]
    assert set(numbers) >= {"max_score_difference", "logit_cosine", "top1_agreement", "clips"}
    assert 0 < numbers["max_score_difference"] < 0.1 and numbers["logit_cosine"] > 0.99  # quantised, close
    fp32_size = (exported("ast", ast_model) / "model.onnx").stat().st_size
    assert (folder / "model.int8.onnx").stat().st_size < 0.6 * fp32_size
    waveforms = test_clips(16000, SECONDS["ast"])
    int8 = audiosift.load(str(folder), dtype="int8")
    reference = audiosift.load(str(ast_model), device="cpu")
    difference = np.abs(int8.scores(waveforms) - reference.scores(waveforms)).max()
    assert TOLERANCE < difference < 0.1  # int8: near the float32 scores, but not equal to them


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("onnx-cache")


def test_backend_onnx_exports_once_into_the_cache(ast_model, onnx_cache, monkeypatch):
    monkeypatch.setenv(onnx_export.ONNX_CACHE_ENV, str(onnx_cache))
    first = audiosift.load(str(ast_model), backend="onnx")
    assert isinstance(first.backend, OnnxClassifierBackend) and first.model_id == str(ast_model)
    (entry,) = onnx_cache.iterdir()

    def no_second_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(onnx_export, "export_backend", no_second_export)
    again = audiosift.load(str(ast_model), backend="onnx")
    assert Path(again.backend.graph.path).parent == entry
    waveforms = test_clips(16000, SECONDS["ast"])
    reference = audiosift.load(str(ast_model), device="cpu", backend="torch")
    assert np.abs(again.scores(waveforms) - reference.scores(waveforms)).max() < TOLERANCE


def test_batches_side_by_side_get_one_thread_sessions(ast_model, exported):
    backend = audiosift.load(str(exported("ast", ast_model))).backend
    waveforms = test_clips(16000, SECONDS["ast"] * 3)
    before = ORT_THREADS.get()
    ORT_THREADS.set(2)  # as on a 2-core machine: two batches side by side, one thread each
    try:
        score_waveforms(backend, waveforms, 4)
    finally:
        ORT_THREADS.set(before)
    assert 1 in backend.graph._sessions
    assert backend.graph._sessions[1].get_session_options().intra_op_num_threads == 1



def test_every_ort_session_flushes_denormals(ast_model, exported, tmp_path):
    """Exports, Silero and the wake-word front end share one session recipe (ort_session): denormals
    flushed (CLAP's masked softmax makes them; 1.46x on its int8 graph), one inter-op thread."""
    from audiosift.models import silero_onnx
    from audiosift.models.silero import silero_model_path
    from audiosift.models.wakeword import catalog, openwakeword

    backend = audiosift.load(str(exported("ast", ast_model))).backend
    sessions = [backend.graph.session(), silero_onnx._session(str(silero_onnx.onnx_model_path(silero_model_path()))),
                openwakeword.OnnxModel(catalog.onnx_frontend_dir() / "melspectrogram.onnx")._session]
    for session in sessions:
        options = session.get_session_options()
        assert options.get_session_config_entry("session.set_denormal_as_zero") == "1"
        assert options.inter_op_num_threads == 1

TORCH_FREE = """
import sys, json
sys.modules["torch"] = None  # as if torch were not installed: importing it fails, find_spec says absent
sys.modules["torchaudio"] = None
import numpy as np
import audiosift
rows = {}
for name, folder, rate, labels in json.loads(sys.argv[1]):
    model = audiosift.load(folder)
    rng = np.random.default_rng(3)
    clip = (0.3 * rng.standard_normal(rate)).astype(np.float32)
    rows[name] = model.scores([clip], model.label_set(labels)).tolist()
print(json.dumps(rows))
"""


def test_exports_load_and_run_without_torch(ast_model, whisper_model, clap_model, exported):
    jobs = [("ast", str(exported("ast", ast_model)), 16000, None),
            ("whisper", str(exported("whisper", whisper_model)), 16000, None),
            ("clap", str(exported("clap", clap_model)), 48000, ["dog", "rain"])]
    done = subprocess.run([sys.executable, "-c", TORCH_FREE, json.dumps(jobs)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    for name, folder, rate, labels in jobs:  # the same scores as with torch importable
        model = audiosift.load(folder)
        clip = (0.3 * np.random.default_rng(3).standard_normal(rate)).astype(np.float32)
        assert np.abs(np.array(rows[name]) - model.scores([clip], model.label_set(labels))).max() < 1e-6


def test_export_refusals(ast_model, exported, tmp_path):
    with pytest.raises(UsageError, match="already an ONNX export"):
        export_model(str(exported("ast", ast_model)), tmp_path / "again")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file.txt").write_text("x")
    with pytest.raises(OutputError, match="not empty"):
        export_model(str(ast_model), tmp_path / "busy")
    with pytest.raises(UnsupportedModelError, match="does not export"):
        export_model("speech", tmp_path / "vad")
    with pytest.raises(UsageError, match="runs on the CPU"):
        audiosift.load(str(exported("ast", ast_model)), device="cuda")
    with pytest.raises(UsageError, match="exported in float32"):
        audiosift.load(str(exported("ast", ast_model)), dtype="int8")
    with pytest.raises(UsageError, match="onnxruntime"):
        audiosift.load(str(ast_model), dtype="int8", backend="torch")
    assert not list(tmp_path.glob(".*exporting*"))  # a failed export leaves no half-written folder


def test_backend_flag_on_the_command_line(ast_model, onnx_cache, monkeypatch, capsys, audio_dir):
    monkeypatch.setenv(onnx_export.ONNX_CACHE_ENV, str(onnx_cache))  # the export made above is reused
    assert main(["classify", str(audio_dir / "yes.wav"), "--model", str(ast_model), "--backend", "onnx",
                 "--format", "json"]) == 0
    onnx_top = json.loads(capsys.readouterr().out)
    assert main(["classify", str(audio_dir / "yes.wav"), "--model", str(ast_model), "--format", "json"]) == 0
    torch_top = json.loads(capsys.readouterr().out)
    first = lambda result: (result[0] if isinstance(result, list) else result)["predictions"]  # noqa: E731
    assert [p["label"] for p in first(onnx_top)] == [p["label"] for p in first(torch_top)]
    assert len(list(onnx_cache.iterdir())) == 1


def test_silero_runs_its_onnx_file_as_the_torchscript_model_does(audio_dir):
    from audiosift.audio import load_audio
    from audiosift.models.silero import SileroStream, SileroTorchScript, load_silero_model, silero_model_path
    from audiosift.models.silero_onnx import SileroOnnx

    assert isinstance(load_silero_model(), SileroOnnx)  # onnxruntime is installed: the faster file
    clip = load_audio(audio_dir / "sentence.wav", 16000)
    ours = SileroStream().speech_probabilities(clip)
    torchscript = SileroStream(model=SileroTorchScript(silero_model_path())).speech_probabilities(clip)
    assert np.abs(ours - torchscript).max() < TOLERANCE
    assert ours.max() > 0.9 and ours.min() < 0.5  # speech and pauses: the comparison covers both
    batch = np.zeros((2, len(clip)), np.float32)  # the batched clip path, second row half silent
    batch[0], batch[1, : len(clip) // 2] = clip, clip[: len(clip) // 2]
    onnx_batch = load_silero_model().audio_forward(batch)
    torch_batch = SileroTorchScript(silero_model_path()).audio_forward(batch)
    assert np.abs(onnx_batch - torch_batch).max() < TOLERANCE
    assert np.abs(onnx_batch[0] - onnx_batch[1]).max() > 0.5


def test_export_straight_from_a_hub_id_in_the_cache(tmp_path, monkeypatch, ast_model):
    """A hub id exports from the HF cache offline; the manifest names the id and its commit."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    entry = tmp_path / "hub" / "models--someone--tiny-ast"
    shutil.copytree(ast_model, entry / "snapshots" / commit)
    (entry / "refs").mkdir()
    (entry / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    manifest = export_model("someone/tiny-ast", tmp_path / "export", cache_dir=str(tmp_path / "hub"))
    assert manifest["source"]["model_id"] == "someone/tiny-ast"
    assert manifest["source"]["fingerprint"] == f"commit:{commit}"
    exported = audiosift.load(str(tmp_path / "export"))
    reference = audiosift.load("someone/tiny-ast", device="cpu", backend="torch", cache_dir=str(tmp_path / "hub"))
    waveforms = test_clips(16000, SECONDS["ast"])
    ours, theirs = exported.scores(waveforms), reference.scores(waveforms)
    assert np.abs(ours - theirs).max() < TOLERANCE
    assert _min_spread(theirs) > 100 * TOLERANCE  # the clips score far apart: the model hears them


def test_clap_audio_graph_carries_the_fused_window_attention(clap_model, exported):
    """The fused window attention exports as ONNX Attention nodes (opset 23); the parity tests above
    check that graph against torch."""
    import onnx

    audio = onnx.load(str(exported("clap", clap_model) / "audio.onnx"), load_external_data=False)
    assert any(node.op_type == "Attention" for node in audio.graph.node)
    assert max(entry.version for entry in audio.opset_import if entry.domain in ("", "ai.onnx")) == 23
    # The mel comes resized to the tower's 1024 frames (featurization does it), so no Resize node.
    assert not any(node.op_type == "Resize" for node in audio.graph.node)
    assert audio.graph.input[0].type.tensor_type.shape.dim[2].dim_value == 1024


def test_silero_streams_share_one_session_but_not_their_state(audio_dir):
    from audiosift.audio import load_audio
    from audiosift.models.silero import SileroStream

    clip = load_audio(audio_dir / "sentence.wav", 16000)
    alone = SileroStream().speech_probabilities(clip)
    first, second = SileroStream(), SileroStream()
    assert first.model.session is second.model.session
    second.speech_probabilities(np.zeros(8000, np.float32))  # the other stream's audio in between
    assert np.array_equal(first.speech_probabilities(clip), alone)


def test_a_damaged_onnx_file_is_a_model_error(tmp_path):
    from audiosift.errors import ModelError
    from audiosift.models import ort_session

    damaged = tmp_path / "model.onnx"
    damaged.write_bytes(b"\x08\x07not a protobuf at all")
    with pytest.raises(ModelError, match="could not load this ONNX file"):
        ort_session.session(damaged)
