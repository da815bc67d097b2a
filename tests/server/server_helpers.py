"""Helpers for the server tests: apps with chosen limits, in-process async clients, batch stats."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager

import httpx

from audiosift.server import ServerConfig, create_app


@contextmanager
def app_for(models: dict, **limits):
    """An app serving ``models`` with ``limits`` (ServerConfig fields); its worker threads stop on exit."""
    app = create_app(ServerConfig(**limits), models=models)  # config.models is not used when models are given
    try:
        yield app
    finally:
        app.state.audiosift.close()


def run_async(coroutine_function, app):
    """Run ``coroutine_function(client)`` against ``app`` in-process (requests really run concurrently)."""
    async def main():
        # raise_app_exceptions=False: a 500 reaches the test as a response, as it would reach a client
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60) as client:
            return await coroutine_function(client)

    return asyncio.run(main())


def stats_of(app, name: str) -> dict:
    return app.state.audiosift.served[name].batcher.stats_snapshot()


# How long a server subprocess may take to start (it imports torch and loads the tiny models on 2
# busy cores) and to stop.
SERVER_START_TIMEOUT_S = 120
SERVER_STOP_TIMEOUT_S = 30


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def server_process(arguments: list[str], log_path):
    """Run ``python -m audiosift serve ARGUMENTS`` on 127.0.0.1 and a free port; yield its base URL."""
    with live_server_process(arguments, log_path) as (url, _process):
        yield url


@contextmanager
def live_server_process(arguments: list[str], log_path):
    """As :func:`server_process`, yielding ``(url, process)`` (tests that watch the server's memory)."""
    port = free_port()
    command = [sys.executable, "-m", "audiosift", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--log-level", "warning", *arguments]
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(process, url, log_path)
        yield url, process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            code = process.wait(SERVER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"the server did not stop within {SERVER_STOP_TIMEOUT_S} s of SIGINT") from None
    assert code == 0, f"the server exited with {code}:\n{open(log_path).read()[-3000:]}"


def wait_until_healthy(process, url: str, log_path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited with {process.returncode}:\n{open(log_path).read()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    process.kill()
    raise AssertionError(f"the server did not answer within {SERVER_START_TIMEOUT_S} s")
