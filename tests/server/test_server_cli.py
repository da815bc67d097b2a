"""`audiosift serve` as a user runs it: a real uvicorn server on 127.0.0.1, real HTTP."""

from __future__ import annotations

import concurrent.futures

import httpx
import pytest


def test_serves_only_the_models_named_on_the_command_line(live_server):
    names = [m["name"] for m in httpx.get(f"{live_server}/v1/models").json()["models"]]
    assert names == ["kw", "speech", "sounds", "wake"]


def test_classify_and_zero_shot_over_http(live_server, audio_dir):
    with open(audio_dir / "yes.webm", "rb") as handle:
        response = httpx.post(f"{live_server}/v1/classify?model=speech", files={"file": ("yes.webm", handle)})
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["label"] == "speech"
    data = (audio_dir / "yes.wav").read_bytes()
    response = httpx.post(f"{live_server}/v1/zero-shot?labels=dog,rain", content=data,
                          headers={"content-type": "audio/wav"})
    assert response.status_code == 200, response.text
    assert {p["label"] for p in response.json()["predictions"]} == {"dog", "rain"}


def test_upload_limit_over_a_real_socket(live_server):
    response = httpx.post(f"{live_server}/v1/classify?model=kw", content=b"\x00" * (1024 * 1024 + 1))
    assert response.status_code == 413
    assert "at most 1048576 bytes" in response.json()["error"]


def test_concurrent_clients_are_all_answered(live_server, audio_dir):
    data = (audio_dir / "yes.wav").read_bytes()

    def post(_):
        return httpx.post(f"{live_server}/v1/classify?model=kw", content=data, timeout=60)

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(post, range(6)))
    assert [r.status_code for r in responses] == [200] * 6
    first = responses[0].json()["predictions"]
    for response in responses[1:]:  # same clip, same answer (batched or not)
        predictions = response.json()["predictions"]
        assert [p["label"] for p in predictions] == [p["label"] for p in first]
        assert all(abs(p["score"] - q["score"]) < 1e-5 for p, q in zip(predictions, first))
    stats = httpx.get(f"{live_server}/v1/stats").json()
    assert stats["models"]["kw"]["requests"] >= 6


def test_listen_over_a_real_websocket_and_its_message_limit(live_server):
    """uvicorn serves /v1/listen (it needs the websockets package), and refuses an oversized message
    in its WebSocket layer (ws_max_size) before buffering it whole."""
    import json

    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    url = live_server.replace("http://", "ws://") + "/v1/listen?model=wake"
    with connect(url, open_timeout=30) as websocket:
        ready = json.loads(websocket.recv(timeout=30))
        assert ready["type"] == "ready" and ready["max_message_bytes"] == 256 * 1024
        websocket.send(b"\x00\x00" * 1600)  # 0.1 s of silence: nothing fires
        websocket.send(json.dumps({"type": "end"}))
        assert json.loads(websocket.recv(timeout=30)) == {"type": "end", "seconds": 0.1}
    with connect(url, open_timeout=30) as websocket:
        websocket.recv(timeout=30)
        websocket.send(b"\x00" * (4 * 1024 * 1024))
        answers = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                answers.append(websocket.recv(timeout=30))
    # Closed by the WebSocket layer: the app never saw the message (it would have sent an "error" first).
    assert closed.value.rcvd.code == 1009 and answers == []
