"""Limits: upload size (checked while the body streams in), upload time, audio duration, concurrent requests
and uploads; and the config."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time

import pytest
import soundfile as sf
from server_helpers import app_for, run_async

import audio_factory
from audiosift.errors import AudioTooLongError
from audiosift.server.config import ServerConfig, parse_model_specs
from audiosift.server.limits import probe_seconds

SMALL_LIMIT = 4096


def body_error(response, status: int, *words: str) -> None:
    assert response.status_code == status, response.text
    message = response.json()["error"]
    for word in words:
        assert word in message, message


def test_declared_body_over_the_limit_is_413_before_reading(speech_clf):
    with app_for({"speech": speech_clf}, max_upload_bytes=SMALL_LIMIT) as app:
        async def send(client):
            return await client.post("/v1/classify", content=b"\x00" * (SMALL_LIMIT + 1))
        response = run_async(send, app)
        assert app.state.audiosift.limit_stats.rejected_too_large == 1
    body_error(response, 413, f"{SMALL_LIMIT + 1} bytes", f"at most {SMALL_LIMIT} bytes")


def test_streamed_body_is_cut_off_at_the_limit(speech_clf):
    chunk, chunks_offered = 1024, 1000  # a ~1 MB upload without Content-Length
    sent = []

    async def body():
        for _ in range(chunks_offered):
            sent.append(chunk)
            yield b"\x00" * chunk

    with app_for({"speech": speech_clf}, max_upload_bytes=SMALL_LIMIT) as app:
        async def send(client):
            return await client.post("/v1/classify", content=body(), headers={"content-type": "audio/wav"})
        response = run_async(send, app)
    body_error(response, 413, "too large", f"at most {SMALL_LIMIT} bytes")
    assert sum(sent) <= SMALL_LIMIT + chunk  # reading stopped at the limit, not after the whole body


def test_multipart_upload_over_the_limit_is_413(speech_clf, audio_dir):
    with app_for({"speech": speech_clf}, max_upload_bytes=SMALL_LIMIT) as app:
        async def send(client):
            clip = (audio_dir / "sentence.wav").read_bytes()
            return await client.post("/v1/classify", files={"file": ("s.wav", clip)})
        body_error(run_async(send, app), 413, "too large")


class CountingPrepare:
    """A classifier that counts how often it decodes."""

    def __init__(self, inner):
        self.inner = inner
        self.prepared = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def prepare(self, audio, sampling_rate=None):
        self.prepared += 1
        return self.inner.prepare(audio, sampling_rate)


@pytest.fixture(scope="module")
def long_clips(tmp_path_factory):
    folder = tmp_path_factory.mktemp("long")
    audio_factory.noise(folder / "5s.wav", seconds=5.0)
    audio_factory.noise(folder / "2_5s.wav", seconds=2.5)
    audio_factory.convert(folder / "5s.wav", folder / "5s.webm")
    return folder


def test_probe_reads_duration_without_decoding(long_clips):
    assert probe_seconds((long_clips / "5s.wav").read_bytes()) == pytest.approx(5.0, abs=1e-3)
    assert probe_seconds((long_clips / "5s.webm").read_bytes()) == pytest.approx(5.0, abs=0.05)  # from packets
    assert probe_seconds(b"not audio at all") is None


@pytest.mark.parametrize("clip", ["5s.wav", "5s.webm", "2_5s.wav"])
def test_audio_over_the_duration_limit_is_413(speech_clf, long_clips, clip):
    model = CountingPrepare(speech_clf)
    with app_for({"speech": model}, max_audio_seconds=2.0) as app:
        async def send(client):
            return await client.post("/v1/classify", content=(long_clips / clip).read_bytes())
        response = run_async(send, app)
    seconds = "5.0 s" if clip.startswith("5") else "2.5 s"
    body_error(response, 413, seconds, "at most 2 s")
    # Well over the limit is refused from the header or packets; near it, by the bounded decoder:
    # either way before the model sees it.
    assert model.prepared == 0


class ShortClipsOnly(CountingPrepare):
    """A model with its own duration limit, below the server's."""

    def prepare(self, audio, sampling_rate=None):
        raise AudioTooLongError("<clip>: this model takes clips of at most 1 s")


def test_a_models_own_duration_limit_keeps_its_message(speech_clf, long_clips):
    with app_for({"speech": ShortClipsOnly(speech_clf)}, max_audio_seconds=30.0) as app:
        async def send(client):
            return await client.post("/v1/classify", content=(long_clips / "2_5s.wav").read_bytes())
        body_error(run_async(send, app), 413, "this model takes clips of at most 1 s")


def test_audio_within_the_limit_passes(speech_clf, long_clips):
    with app_for({"speech": speech_clf}, max_audio_seconds=3.0) as app:
        async def send(client):
            return await client.post("/v1/classify", content=(long_clips / "2_5s.wav").read_bytes())
        response = run_async(send, app)
    assert response.status_code == 200 and response.json()["duration_s"] == pytest.approx(2.5)


class BlockingPrepare(CountingPrepare):
    """A classifier whose decoding waits until ``release`` is set (it holds its slot meanwhile)."""

    def __init__(self, inner):
        super().__init__(inner)
        self.release = threading.Event()
        self.entered = threading.Event()

    def prepare(self, audio, sampling_rate=None):
        self.entered.set()
        assert self.release.wait(10), "the test never released the decoder"
        return super().prepare(audio, sampling_rate)


def test_requests_over_the_concurrency_limit_get_503_with_retry_after(speech_clf, audio_dir):
    data = (audio_dir / "yes.wav").read_bytes()
    model = BlockingPrepare(speech_clf)
    with app_for({"speech": model}, max_concurrent_requests=1, retry_after_s=2) as app:
        stats = app.state.audiosift.limit_stats

        async def scenario(client):
            first = asyncio.create_task(client.post("/v1/classify", content=data))
            await asyncio.to_thread(model.entered.wait, 10)  # the first request is decoding: it holds the slot
            second = await client.post("/v1/classify", content=data)
            model.release.set()
            return await first, second, await client.post("/v1/classify", content=data)

        first, second, third = run_async(scenario, app)
    body_error(second, 503, "busy", "retry in 2 s")
    assert second.headers["retry-after"] == "2"
    assert first.status_code == 200 and third.status_code == 200
    assert stats.rejected_busy == 1 and stats.in_flight == 0


def test_a_slow_upload_holds_no_inference_slot(speech_clf, audio_dir):
    data = (audio_dir / "yes.wav").read_bytes()
    with app_for({"speech": speech_clf}, max_concurrent_requests=1) as app:
        stats = app.state.audiosift.limit_stats

        async def scenario(client):
            release = asyncio.Event()

            async def slow_body():  # still uploading until released
                yield data[:100]
                await release.wait()
                yield data[100:]

            slow = asyncio.create_task(client.post("/v1/classify", content=slow_body()))
            for _ in range(500):  # until the slow request is uploading (bounded: 5 s)
                if stats.uploading:
                    break
                await asyncio.sleep(0.01)
            uploading_meanwhile = stats.uploading
            other = await asyncio.wait_for(client.post("/v1/classify", content=data), 30)
            release.set()
            return uploading_meanwhile, other, await slow

        uploading_meanwhile, other, slow = run_async(scenario, app)
    assert uploading_meanwhile == 1
    assert other.status_code == 200, other.text  # the only slot was free: the slow one was not using it
    assert slow.status_code == 200 and stats.rejected_busy == 0 and stats.uploading == 0


def test_an_upload_that_trickles_in_past_the_timeout_is_408(speech_clf):
    async def trickle():  # a byte every 0.1 s, for ever: never idle, never done
        for _ in range(300):
            yield b"\x00"
            await asyncio.sleep(0.1)

    with app_for({"speech": speech_clf}, upload_timeout_s=1.0, upload_idle_timeout_s=0.5) as app:
        async def send(client):
            started = time.monotonic()
            response = await client.post("/v1/classify", content=trickle(), headers={"content-type": "audio/wav"})
            return response, time.monotonic() - started
        response, took = run_async(send, app)
        stats = app.state.audiosift.limit_stats
    body_error(response, 408, "did not arrive within 1 s")
    assert response.headers["connection"] == "close"
    assert took < 10 and stats.rejected_timeout == 1 and stats.uploading == 0


def test_a_chunked_upload_that_stalls_is_408_after_the_idle_timeout(speech_clf):
    async def stalls():  # one chunk, then nothing (for longer than the test could wait)
        yield b"RIFF"
        await asyncio.sleep(30)
        yield b"never sent"

    with app_for({"speech": speech_clf}, upload_idle_timeout_s=0.5) as app:
        async def send(client):
            started = time.monotonic()
            response = await client.post("/v1/classify", content=stalls(), headers={"content-type": "audio/wav"})
            return response, time.monotonic() - started
        response, took = run_async(send, app)
    body_error(response, 408, "nothing for 0.5 s", "4 bytes arrived")
    assert took < 10


def test_too_many_uploads_at_once_get_503(speech_clf, audio_dir):
    data = (audio_dir / "yes.wav").read_bytes()
    with app_for({"speech": speech_clf}, max_pending_uploads=1, retry_after_s=3) as app:
        stats = app.state.audiosift.limit_stats

        async def scenario(client):
            release = asyncio.Event()

            async def slow_body():
                yield data[:100]
                await release.wait()
                yield data[100:]

            slow = asyncio.create_task(client.post("/v1/classify", content=slow_body()))
            for _ in range(500):  # bounded: 5 s
                if stats.uploading:
                    break
                await asyncio.sleep(0.01)
            second = await client.post("/v1/classify", content=data)
            release.set()
            return second, await slow

        second, slow = run_async(scenario, app)
    body_error(second, 503, "busy", "1 uploads in progress")
    assert second.headers["retry-after"] == "3" and slow.status_code == 200


def test_info_endpoints_are_not_limited(speech_clf):
    with app_for({"speech": speech_clf}, max_concurrent_requests=1, max_upload_bytes=10) as app:
        async def send(client):
            return await asyncio.gather(*[client.get("/v1/models") for _ in range(3)])
        assert [r.status_code for r in run_async(send, app)] == [200] * 3


@pytest.mark.parametrize("options, words", [
    ({"models": {}}, "at least one model"),
    ({"models": {"bad name": "keywords"}}, "model name"),
    ({"max_upload_bytes": 0}, "max_upload_bytes"),
    ({"max_audio_seconds": -1}, "max_audio_seconds"),
    ({"max_concurrent_requests": 1.5}, "max_concurrent_requests"),
    ({"batch_wait_ms": -1}, "batch_wait_ms"),
    ({"max_batch_size": 0}, "max_batch_size"),
    ({"upload_timeout_s": 0}, "upload_timeout_s"),
    ({"upload_idle_timeout_s": float("nan")}, "upload_idle_timeout_s"),
    ({"max_pending_uploads": 0}, "max_pending_uploads"),
    ({"max_cached_prompts": -5}, "max_cached_prompts"),
    ({"port": 70000}, "port"),
    ({"device": "tpu"}, "device"),
    ({"backend": "tensorrt"}, "backend"),
])
def test_config_is_checked(options, words):
    with pytest.raises(ValueError, match=words):
        ServerConfig(**options)


def test_config_models_cannot_change_after_creation():
    config = ServerConfig(models={"kw": "keywords"})
    with pytest.raises(TypeError):
        config.models["other"] = "language"


def test_model_specs():
    assert parse_model_specs(["kw=keywords", "speech", "mine=/models/ast", "/models/whisper-lid/"]) == {
        "kw": "keywords", "speech": "speech", "mine": "/models/ast", "whisper-lid": "/models/whisper-lid/"}
    with pytest.raises(ValueError, match="twice"):
        parse_model_specs(["a=keywords", "a=speech"])
    with pytest.raises(ValueError, match="NAME=MODEL"):
        parse_model_specs(["=keywords"])


def test_long_sentence_gets_a_warning_that_the_model_sees_only_its_window(keywords_clf, audio_dir):
    with app_for({"kw": keywords_clf}) as app:
        async def send(client):
            return [await client.post("/v1/classify", content=(audio_dir / name).read_bytes())
                    for name in ("sentence.wav", "yes.wav")]
        long, short = run_async(send, app)
    assert sf.info(audio_dir / "sentence.wav").duration > 1.5 * keywords_clf.window_seconds
    assert "looks only at its first" in long.json()["warnings"][0]
    assert short.json()["warnings"] == []


def test_serve_help_lists_the_limits():
    out = subprocess.run([sys.executable, "-m", "audiosift", "serve", "--help"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for option in ("--model", "--host", "--port", "--max-upload-mb", "--max-audio-seconds", "--max-concurrent",
                   "--upload-timeout", "--upload-idle-timeout", "--max-uploads", "--max-cached-prompts",
                   "--batch-wait-ms", "--max-batch-size"):
        assert option in out.stdout
