"""Live listening over the WebSocket /v1/listen (a Python client: Starlette's TestClient), its limits,
and wake-word detections from HTTP /v1/classify. The recording holds "hey jarvis" then "alexa"
(espeak-ng), each padded with 0.5 s of silence."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import soundfile as sf
import soxr
from server_helpers import app_for
from starlette.testclient import TestClient

import audiosift
from audiosift.inference.detector import WakeWordDetector
from wake_word_audio import RATE, as_int16, phrase

END = json.dumps({"type": "end"})


@pytest.fixture(scope="module")
def wake_clf():
    return audiosift.load("wake-word")


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """``(samples at 16 kHz, [(start, end) of each phrase in seconds])``."""
    folder = tmp_path_factory.mktemp("listen")
    parts = [phrase("hey jarvis", folder, "en-us"), phrase("alexa", folder)]
    bounds = np.cumsum([0] + [len(p) for p in parts]) / RATE
    return np.concatenate(parts), list(zip(bounds[:-1], bounds[1:]))


@pytest.fixture(scope="module")
def client(wake_clf, speech_clf):
    with app_for({"wake": wake_clf, "speech": speech_clf}) as app, TestClient(app) as test_client:
        yield test_client


def converse(websocket, messages) -> tuple[list[dict], int]:
    """Send ``messages`` (bytes or text), then read until the server closes: ``(its messages, close code)``."""
    for message in messages:
        websocket.send_bytes(message) if isinstance(message, bytes) else websocket.send_text(message)
    received = []
    while True:
        message = websocket.receive()
        if message["type"] == "websocket.close":
            return received, message["code"]
        received.append(json.loads(message["text"]))


def chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def listen(client, query: str, messages) -> tuple[dict, list[dict], int]:
    with client.websocket_connect(f"/v1/listen?{query}") as websocket:
        ready = websocket.receive_json()
        received, code = converse(websocket, messages)
    return ready, received, code


def test_a_recording_sent_in_chunks_gives_each_wake_word_with_its_time(client, wake_clf, recording):
    samples, bounds = recording
    ready, received, code = listen(client, "model=wake", [*chunks(as_int16(samples).tobytes(), 3200), END])
    assert ready["type"] == "ready" and ready["rate"] == 16000 and ready["format"] == "s16le"
    assert ready["detector"] == "wake-word" and "hey jarvis" in ready["labels"]
    detections = [m for m in received if m["type"] == "detection"]
    assert [d["label"] for d in detections] == ["hey jarvis", "alexa"]
    for detection, (start, end) in zip(detections, bounds):
        assert start <= detection["end"] <= end and detection["start"] < detection["end"]
    # The same events as the detector over the whole recording (the stream is chunk-size invariant).
    direct = WakeWordDetector(wake_clf).detect(as_int16(samples).astype(np.float32) / 32768)
    assert [(d["label"], d["start"], d["end"]) for d in detections] == \
        [(e.label, round(e.start, 3), round(e.end, 3)) for e in direct]
    assert received[-1] == {"type": "end", "seconds": pytest.approx(len(samples) / RATE, abs=1e-3)}
    assert [m["seconds"] for m in received if m["type"] == "progress"] == [1.0, 2.0, 3.0]
    assert code == 1000


def test_float32_at_48_khz_is_resampled_and_labels_and_threshold_are_honoured(client, recording):
    samples, bounds = recording
    at_48k = soxr.resample(samples, RATE, 48000).astype("<f4").tobytes()
    _, received, _ = listen(client, "model=wake&rate=48000&format=f32le", [*chunks(at_48k, 19200), END])
    assert [m["label"] for m in received if m["type"] == "detection"] == ["hey jarvis", "alexa"]
    ready, received, _ = listen(client, "model=wake&labels=alexa&threshold=0.3&rate=48000&format=f32le",
                                [*chunks(at_48k, 19200), END])
    assert ready["labels"] == ["alexa"]
    alexa = [m for m in received if m["type"] == "detection"]
    assert [m["label"] for m in alexa] == ["alexa"] and bounds[1][0] <= alexa[0]["end"] <= bounds[1][1]


def test_another_classifier_listens_behind_the_vad(client, recording):
    samples, _ = recording
    ready, received, code = listen(client, "model=speech&labels=speech",
                                   [*chunks(as_int16(samples).tobytes(), 3200), END])
    assert ready["detector"] == "vad" and ready["labels"] == ["speech"]
    assert [m["label"] for m in received if m["type"] == "detection"][:1] == ["speech"] and code == 1000


@pytest.mark.parametrize(("query", "status", "code", "words"), [
    ("model=nope", 404, 1008, "not served here"),
    ("model=wake-word", 404, 1008, "not served here"),  # a preset the server could load, but does not serve
    ("model=wake&labels=marvin", 422, 1008, "labels must be some of"),
    ("model=wake&threshold=2", 422, 1008, "threshold must be"),
    ("model=wake&rate=12", 422, 1008, "rate must be"),
    ("model=wake&format=mp3", 422, 1008, "format must be"),
])
def test_bad_queries_get_one_error_message_and_a_close(client, query, status, code, words):
    with client.websocket_connect(f"/v1/listen?{query}") as websocket:
        received, closed = converse(websocket, [])
    assert len(received) == 1 and received[0]["type"] == "error" and received[0]["status"] == status
    assert words in received[0]["error"] and closed == code


def test_bad_messages_end_the_session(client):
    for messages, status, code in [([b"\x00" * (256 * 1024 + 2)], 413, 1009),  # over the message limit
                                   ([b"\x00\x00\x00"], 422, 1003),  # half a sample
                                   (["hello"], 422, 1003)]:  # text that is not {"type": "end"}
        _, received, closed = listen(client, "model=wake", messages)
        assert (received[-1]["type"], received[-1]["status"], closed) == ("error", status, code)


def test_session_limits_audio_idle_time_and_sessions(wake_clf, recording):
    samples, _ = recording
    pcm = as_int16(samples).tobytes()
    with app_for({"wake": wake_clf}, listen_max_seconds=2.0, listen_idle_timeout_s=0.5,
                 max_listen_sessions=1) as app, TestClient(app) as client:
        _, received, code = listen(client, "model=wake", chunks(pcm, 3200))  # 3.8 s of audio > 2 s
        assert [m["label"] for m in received if m["type"] == "detection"] == ["hey jarvis"]  # heard before the limit
        assert received[-1]["status"] == 413 and "limit of 2 s" in received[-1]["error"] and code == 1008
        _, received, code = listen(client, "model=wake", [])  # then silence: cut off after 0.5 s
        assert received[-1]["status"] == 408 and "nothing arrived for 0.5 s" in received[-1]["error"]
        with client.websocket_connect("/v1/listen?model=wake") as first:
            assert first.receive_json()["type"] == "ready"
            with client.websocket_connect("/v1/listen?model=wake") as second:
                received, code = converse(second, [])
            assert received[0]["status"] == 503 and code == 1013
            first.send_text(END)
            assert converse(first, [])[1] == 1000
        stats = client.get("/v1/stats").json()["listen"]
        assert stats["active"] == 0 and stats["sessions"] == 3 and stats["rejected_busy"] == 1


def test_http_classify_on_a_wake_word_model_reports_detections_with_times(client, recording):
    samples, bounds = recording
    wav = io.BytesIO()
    sf.write(wav, samples, RATE, format="WAV")
    body = client.post("/v1/classify?model=wake&top_k=2", files={"file": ("wake.wav", wav.getvalue())}).json()
    assert [d["label"] for d in body["detections"]] == ["hey jarvis", "alexa"]
    for detection, (start, end) in zip(body["detections"], bounds):
        assert start <= detection["end"] <= end
    assert sorted(p["label"] for p in body["predictions"]) == ["alexa", "hey jarvis"]  # the peaks, top 2
    assert body["duration_s"] == pytest.approx(len(samples) / RATE, abs=1e-3)
    other = client.post("/v1/classify?model=speech", files={"file": ("wake.wav", wav.getvalue())}).json()
    assert set(other) == {"model", "predictions", "duration_s", "warnings"}  # other models: the same shape
    models = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert models["wake"]["detector"] is True and models["speech"]["detector"] is False


def test_pages_of_other_sites_cannot_open_a_listening_session(client):
    """A browser sends Origin; only the server's own page (same host) may listen through it."""
    with client.websocket_connect("/v1/listen?model=wake", headers={"origin": "http://evil.example"}) as websocket:
        received, closed = converse(websocket, [])
    assert received[0]["status"] == 403 and "another site" in received[0]["error"] and closed == 1008
    with client.websocket_connect("/v1/listen?model=wake", headers={"origin": "http://testserver"}) as websocket:
        received, _ = converse(websocket, [])
    assert received[0]["type"] == "ready"
