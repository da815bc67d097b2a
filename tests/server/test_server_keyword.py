"""A folder made by ``audiosift train-keyword``, served by its path as ``serve --model`` loads it: listed
with its phrase; /v1/classify reports its detections with their times, as wake-word models do, and
/v1/listen streams them."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import soundfile as sf
from fastapi.testclient import TestClient

from audiosift.inference.detector import WakeWordDetector
from audiosift.keywords import synth
from audiosift.server import ServerConfig, create_app

RATE = 16000
VOICE = synth.Voice("espeak", "en-us+m3", 160.0, 50.0)


@pytest.fixture(scope="module")
def client(trained_keyword):
    app = create_app(ServerConfig(models={"hey": str(trained_keyword[0])}, device="cpu"))
    try:
        with TestClient(app) as test_client:
            yield test_client
    finally:
        app.state.audiosift.close()


@pytest.fixture(scope="module")
def recording():
    """``(samples, (start, end) of the phrase in seconds)``: silence, "hey computer", silence, another phrase."""
    silence = np.zeros(RATE // 2, np.float32)
    phrase = synth.synthesize("hey computer", VOICE)
    parts = [silence, phrase, silence, synth.synthesize("good morning", VOICE), silence]
    start = len(silence) / RATE
    return np.concatenate(parts), (start, start + len(phrase) / RATE)


def test_models_lists_the_keyword_with_its_phrase(client, trained_keyword):
    (model,) = client.get("/v1/models").json()["models"]
    assert model["name"] == "hey" and model["kind"] == "classifier" and model["detector"] is True
    assert model["labels"] == ["hey computer"] and model["sampling_rate"] == RATE
    assert model["model_id"] == trained_keyword[0].name  # the folder's name, not its path on the server
    assert str(trained_keyword[0].parent) not in client.get("/v1/models").text


def test_classify_reports_the_keyword_detections_with_times(client, trained_keyword, recording):
    samples, (start, end) = recording
    wav = io.BytesIO()
    sf.write(wav, samples, RATE, format="WAV", subtype="FLOAT")
    reply = client.post("/v1/classify?model=hey", files={"file": ("clip.wav", wav.getvalue())})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert set(body) == {"model", "predictions", "detections", "duration_s", "warnings"}
    assert body["model"] == "hey" and body["duration_s"] == pytest.approx(len(samples) / RATE, abs=1e-3)
    detections = body["detections"]
    assert detections and all(set(d) == {"label", "start", "end", "score"} for d in detections)
    assert [d["label"] for d in detections] == ["hey computer"]  # the phrase, not the other one
    assert start <= detections[0]["end"] <= end + 0.5 and detections[0]["start"] < detections[0]["end"]
    threshold = trained_keyword[1].manifest["threshold"]
    assert detections[0]["score"] >= threshold
    (peak,) = body["predictions"]  # the one label's highest frame score
    assert peak["label"] == "hey computer" and peak["score"] >= detections[0]["score"]
    # The same events as the detector run in-process on the same samples.
    direct = WakeWordDetector(client.app.state.audiosift.served["hey"].model).detect(samples)
    assert [(d["start"], d["end"]) for d in detections] == [(round(e.start, 3), round(e.end, 3)) for e in direct]


def test_listen_streams_the_keyword_detections(client, recording):
    samples, (start, end) = recording
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()
    with client.websocket_connect("/v1/listen?model=hey") as websocket:
        ready = websocket.receive_json()
        for i in range(0, len(pcm), 3200):
            websocket.send_bytes(pcm[i:i + 3200])
        websocket.send_text(json.dumps({"type": "end"}))
        received = []
        while (message := websocket.receive())["type"] != "websocket.close":
            received.append(json.loads(message["text"]))
    assert ready["detector"] == "wake-word" and ready["labels"] == ["hey computer"]
    detections = [m for m in received if m["type"] == "detection"]
    assert [d["label"] for d in detections] == ["hey computer"]
    assert start <= detections[0]["end"] <= end + 0.5 and received[-1]["type"] == "end"
