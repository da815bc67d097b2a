"""A synthesizer run as a program of its own, asked for one clip at a time: a JSON request a line on
its stdin (the text, the voice, the WAV file to write), ``ok`` or ``error ...`` a line back on its
stdout. GnuSpeech (WebAssembly under Node.js) and SVOX Pico (a C library whose output depended on
what the process had run before it) run so; one process serves a whole training run, and is
restarted if it fails, dies or stalls.
"""

from __future__ import annotations

import atexit
import json
import selectors
import subprocess
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np

from audiosift.keywords.engines import SynthesisError

REPLY_TIMEOUT_S = 60.0  # a 10 s sentence takes ~0.1 s; a minute means the program is stuck


class SynthesizerProcess:
    """``name``'s program, started by ``command()`` (which raises SynthesisError when it is not
    installed) on the first request; a failed request gets a fresh program next time, as one
    failure may leave its state half-changed."""

    def __init__(self, name: str, command: Callable[[], list[str]]):
        self.name, self.command = name, command
        self.process: subprocess.Popen | None = None
        self.lock = threading.Lock()
        atexit.register(self.close)

    def speak(self, request: dict) -> tuple[np.ndarray, int]:
        """``request`` (its ``text`` and voice settings) spoken into a WAV file of a temporary folder,
        read back: ``(mono float32 samples, rate)``."""
        import soundfile

        with tempfile.TemporaryDirectory(prefix=f"audiosift-{self.name.lower()}-") as folder:
            request = {**request, "output": str(Path(folder) / "speech.wav")}
            self.ask(request)
            try:
                samples, rate = soundfile.read(request["output"], dtype="float32", always_2d=True)
            except (OSError, RuntimeError) as error:  # soundfile's LibsndfileError is a RuntimeError
                raise SynthesisError(f"{self.name} wrote no readable audio for {request['text'][:60]!r} "
                                     f"({error})") from error
        return samples.mean(axis=1), rate

    def ask(self, request: dict) -> None:
        with self.lock:
            if self.process is not None and self.process.poll() is not None:
                self.close()  # ended since the last request
            if self.process is None:
                self.process = self._start()
            try:
                self.process.stdin.write(json.dumps(request) + "\n")
                self.process.stdin.flush()
            except BrokenPipeError:
                pass  # it has exited: _reply says so, with what it printed
            answer = self._reply()
            if answer != "ok":
                self._stop()
        if answer != "ok":
            raise SynthesisError(f"{self.name} failed on {request['text'][:60]!r}: {answer.removeprefix('error ')}")

    def _start(self) -> subprocess.Popen:
        command = self.command()
        self.stderr = tempfile.TemporaryFile()  # a file, not a pipe: a full pipe would block the program
        return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr,
                                text=True, bufsize=1)

    def _reply(self) -> str:
        with selectors.DefaultSelector() as selector:
            selector.register(self.process.stdout, selectors.EVENT_READ)
            ready = selector.select(REPLY_TIMEOUT_S)
        line = self.process.stdout.readline().strip() if ready else ""
        if not line:  # stalled or dead: stop it, say why, and start afresh next time
            self.process.kill()
            self.process.wait()
            self.stderr.seek(0)
            stderr = self.stderr.read().decode(errors="replace")[-300:].strip()
            self.close()
            raise SynthesisError(f"{self.name}'s driver {'stalled' if not ready else 'exited'}: {stderr}")
        return line

    def _stop(self) -> None:
        self.process.kill()
        self.close()

    def close(self) -> None:
        """End the program (at exit: its stdin closes, and it ends after its current request)."""
        if self.process is not None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process.stdout.close()
            self.stderr.close()
            self.process = None
