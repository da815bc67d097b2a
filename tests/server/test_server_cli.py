"""`audiosift serve` as a user runs it: a real uvicorn server on 127.0.0.1, real HTTP."""

from __future__ import annotations

import concurrent.futures

import httpx


def test_serves_only_the_models_named_on_the_command_line(live_server):
    names = [m["name"] for m in httpx.get(f"{live_server}/v1/models").json()["models"]]
    assert names == ["kw", "speech", "sounds"]


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
