"""``serve --backend onnx``: the served model is exported once into the cache and runs on onnxruntime,
answering what the torch model answers."""

from __future__ import annotations

import numpy as np
from fastapi.testclient import TestClient
from server_helpers import app_for

from audiosift.cli.main import build_parser
from audiosift.cli.serve import config_from_args
from audiosift.models import onnx_export
from audiosift.models.onnx_backend import MANIFEST, OnnxClassifierBackend
from audiosift.server import ServerConfig, create_app

TOLERANCE = 1e-4  # ORT fp32 against the torch backend (as in tests/models/test_onnx.py)
CLIPS = ("yes.wav", "tone.wav", "noise.wav")


def served_scores(client, audio_dir) -> np.ndarray:
    """Every label's score for each of CLIPS, in label order: one row per clip."""
    rows = []
    for name in CLIPS:
        reply = client.post("/v1/classify?model=kw&top_k=1000", content=(audio_dir / name).read_bytes())
        assert reply.status_code == 200, reply.text
        scores = {p["label"]: p["score"] for p in reply.json()["predictions"]}
        rows.append([scores[label] for label in sorted(scores)])
    return np.asarray(rows)


def test_the_backend_flag_reaches_the_server_config():
    args = build_parser().parse_args(["serve", "--model", "kw=keywords", "--backend", "onnx"])
    assert config_from_args(args).runtime.backend == "onnx"
    args = build_parser().parse_args(["serve", "--model", "kw=keywords"])
    assert config_from_args(args).runtime.backend == "auto"


def test_backend_onnx_serves_the_torch_scores_from_an_export(ast_model, keywords_clf, audio_dir, tmp_path,
                                                             monkeypatch):
    monkeypatch.setenv(onnx_export.ONNX_CACHE_ENV, str(tmp_path / "onnx-cache"))
    app = create_app(ServerConfig(models={"kw": str(ast_model)}, device="cpu", backend="onnx"))
    try:
        with TestClient(app) as client:
            model = app.state.audiosift.served["kw"].model
            assert isinstance(model.backend, OnnxClassifierBackend)  # runs on onnxruntime...
            (export,) = (tmp_path / "onnx-cache").iterdir()  # ...from the export made into the cache
            assert (export / MANIFEST).is_file()
            described = client.get("/v1/models").json()["models"][0]
            assert described["model_id"] == ast_model.name and described["labels"] == keywords_clf.labels
            onnx = served_scores(client, audio_dir)
    finally:
        app.state.audiosift.close()
    with app_for({"kw": keywords_clf}) as torch_app, TestClient(torch_app) as client:
        torch = served_scores(client, audio_dir)
    assert onnx.shape == (len(CLIPS), len(keywords_clf.labels))
    assert np.abs(onnx - torch).max() < TOLERANCE
    # The clips score far apart, so equal scores mean the same model, not a model that ignores its input.
    apart = [np.abs(torch[i] - torch[j]).max() for i in range(len(CLIPS)) for j in range(i + 1, len(CLIPS))]
    assert min(apart) > 100 * TOLERANCE, apart
