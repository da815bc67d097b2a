"""Slow, broken and hostile clients against a real ``audiosift serve`` on loopback.

Raw sockets play the clients that browsers and httpx never are: uploads that stop short of their
Content-Length, clients that hang up mid-upload, and a webm whose zeroed timestamps claim 0.01 s
for 40 minutes of audio. Every wait is bounded.
"""

from __future__ import annotations

import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from server_helpers import live_server_process

import audio_factory

IDLE_TIMEOUT_S = 6  # long enough for the normal request to finish while the stalled ones still wait
MAX_AUDIO_SECONDS = 10
STALLED_CLIENTS = 20
MAX_CONCURRENT = 4  # fewer than the stalled clients: if they held slots, nothing else would run
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory, audio_dir):
    log = tmp_path_factory.mktemp("hostile") / "server.log"
    with live_server_process(["--model", "speech", "--max-concurrent", str(MAX_CONCURRENT),
                              "--upload-idle-timeout", str(IDLE_TIMEOUT_S), "--upload-timeout", "30",
                              "--max-audio-seconds", str(MAX_AUDIO_SECONDS)], log) as (url, process):
        # A first request warms the model up, so the timed ones below measure the limits, not that.
        assert httpx.post(f"{url}/v1/classify", content=(audio_dir / "yes.wav").read_bytes(),
                          timeout=60).status_code == 200
        yield url, process, log


def open_upload(url: str, declared: int, sent: bytes) -> socket.socket:
    """A client that declares ``declared`` bytes of body and sends only ``sent``."""
    host, port = url.removeprefix("http://").split(":")
    client = socket.create_connection((host, int(port)), timeout=10)
    client.sendall((f"POST /v1/classify HTTP/1.1\r\nHost: {host}\r\nContent-Type: audio/wav\r\n"
                    f"Content-Length: {declared}\r\n\r\n").encode() + sent)
    return client


def read_reply(client: socket.socket, timeout_s: float) -> bytes:
    """Everything the server sends until it closes the connection (bounded by ``timeout_s``)."""
    client.settimeout(timeout_s)
    reply = b""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        chunk = client.recv(65536)
        if not chunk:
            break
        reply += chunk
    return reply


def limit_stats(url: str) -> dict:
    return httpx.get(f"{url}/v1/stats", timeout=10).json()["requests"]


def wait_for(condition, timeout_s: float = 10) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_stalled_uploads_hold_no_slot_and_get_400(server, audio_dir):
    url = server[0]
    started = time.monotonic()
    stalled = [open_upload(url, 100_000, b"RIFF\x00\x00") for _ in range(STALLED_CLIENTS)]
    try:
        assert wait_for(lambda: limit_stats(url)["uploading"] == STALLED_CLIENTS)
        reply = httpx.post(f"{url}/v1/classify", content=(audio_dir / "yes.wav").read_bytes(), timeout=30)
        assert reply.status_code == 200, reply.text
        assert limit_stats(url)["uploading"] == STALLED_CLIENTS  # they were all still waiting meanwhile
        replies = [read_reply(client, IDLE_TIMEOUT_S + 15) for client in stalled]
    finally:
        for client in stalled:
            client.close()
    for answer in replies:  # each answered once its body stopped coming, then cut off
        assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
        assert b"shorter than its Content-Length" in answer and b"6 bytes of the 100000 declared" in answer
    assert time.monotonic() - started < IDLE_TIMEOUT_S + 30
    assert limit_stats(url)["uploading"] == 0


def test_a_client_that_hangs_up_mid_upload_costs_one_log_line(server):
    url, _process, log = server
    before = limit_stats(url)["client_disconnects"]
    client = open_upload(url, 100_000, b"\x00" * 1000)
    assert wait_for(lambda: limit_stats(url)["uploading"] >= 1)
    client.close()
    assert wait_for(lambda: limit_stats(url)["client_disconnects"] == before + 1)
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    lines = [line for line in text.splitlines() if "went away during its upload" in line]
    assert len(lines) == before + 1 and "after 1000 bytes of the 100000 declared" in lines[-1], text[-2000:]


@pytest.fixture(scope="module")
def zeroed_webm(tmp_path_factory):
    """40 minutes of opus whose packets all say t=0: the probe sees 0.01 s (1.4 MB, made in ~1 s)."""
    folder = tmp_path_factory.mktemp("zeroed")
    minute, looped, zeroed = folder / "minute.webm", folder / "looped.webm", folder / "zeroed.webm"
    ffmpeg = audio_factory.require("ffmpeg")
    quiet = [ffmpeg, "-loglevel", "error", "-y"]
    subprocess.run([*quiet, "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono", "-t", "60", "-c:a", "libopus",
                    "-b:a", "6k", str(minute)], check=True, capture_output=True, timeout=60)
    subprocess.run([*quiet, "-stream_loop", "39", "-i", str(minute), "-c", "copy", str(looped)],
                   check=True, capture_output=True, timeout=60)
    subprocess.run([*quiet, "-i", str(looped), "-c", "copy", "-bsf:a", "setts=ts=0", str(zeroed)],
                   check=True, capture_output=True, timeout=60)
    return zeroed.read_bytes()


def memory_kib(pid: int, field: str) -> int:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/{pid}/status")


def test_zeroed_timestamp_webms_at_once_stay_in_bounded_memory(server, zeroed_webm, audio_dir, tmp_path):
    from audiosift.server.limits import probe_seconds

    url, process, _log = server
    assert probe_seconds(zeroed_webm) < 1  # the container lies: only decoding tells
    normal = audio_factory.convert(audio_dir / "yes.wav", tmp_path / "yes.webm")
    assert httpx.post(f"{url}/v1/classify", content=normal.read_bytes(), timeout=30).status_code == 200  # warm
    try:  # reset the peak, so the measure is this test's own (Linux >= 4.0)
        with open(f"/proc/{process.pid}/clear_refs", "w") as reset:
            reset.write("5")
    except OSError:
        pass
    baseline = memory_kib(process.pid, "VmHWM")

    def upload(_):
        return httpx.post(f"{url}/v1/classify", content=zeroed_webm, timeout=60)

    with ThreadPoolExecutor(3) as pool:
        replies = list(pool.map(upload, range(3)))
    growth_mib = (memory_kib(process.pid, "VmHWM") - baseline) / 1024
    for reply in replies:
        assert reply.status_code == 413, reply.text
        assert f"at most {MAX_AUDIO_SECONDS} s" in reply.json()["error"]
    # Decoded whole, each would be 40 min x 16 kHz x 4 bytes = 154 MB (and more at 48 kHz on the way);
    # bounded, each holds at most 10 s of samples (0.6 MB) plus the decoder's buffers.
    assert growth_mib < 120, f"peak RSS grew by {growth_mib:.0f} MiB for 3 uploads"
