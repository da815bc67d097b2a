"""GnuSpeech, an articulatory synthesizer (a model of the vocal tract as a tube, driven by a
glottal source), for keyword training: a fourth kind of speech beside espeak-ng's formants,
flite's diphones and Piper's neural voice, and one whose speaker is a set of physical settings
(vocal tract length, glottal pulse, breathiness, pitch), so any number of speakers can be drawn.

It runs as WebAssembly under Node.js: the npm package ``@echogarden/gnuspeech-wasm`` (GPL-3.0; it
is run as a separate program, like espeak-ng) installed under ``<venv>/node`` by the setup script,
or the package folder named by ``AUDIOSIFT_GNUSPEECH``. One driver process (``gnuspeech_driver.mjs``,
ours) serves every clip of a run. Its random intonation and pitch drift are switched off: they are
seeded from the clock, and a recipe must be repeatable from its seed; the pitch and tempo drawn by
the caller vary the voice instead.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import selectors
import shutil
import subprocess
import sys
import tempfile
import threading
from functools import lru_cache
from pathlib import Path

import numpy as np

from audiosift.keywords.engines import SynthesisError

PACKAGE = "@echogarden/gnuspeech-wasm"
VERSION = "0.3.0"
FOLDER_VARIABLE = "AUDIOSIFT_GNUSPEECH"
# Presets that sound like speech: measured, openWakeWord's "hey jarvis" head fired on 7, 6 and 4 of
# 9 male, female and large_child clips (tract length x tempo grid) and on none of small_child or baby.
PRESETS = ("male", "female", "large_child")
DEFAULT_PITCH = -4.0  # semitones: the package's control model's pitch_offset
REPEATABLE = {"random_intonation": 0, "intonation_drift": 0}
REPLY_TIMEOUT_S = 60.0  # a 10 s sentence takes ~0.1 s; a minute means the driver is stuck
DRIVER = Path(__file__).with_name("gnuspeech_driver.mjs")
SPEAKABLE = re.compile(r"[A-Za-z0-9]")
RATE = 44100  # what GnuSpeech writes


def package_dir() -> Path | None:
    """The installed package's folder, or None (no Node.js, or no package)."""
    if shutil.which("node") is None:
        return None
    named = os.environ.get(FOLDER_VARIABLE)
    folder = Path(named) if named else Path(sys.prefix) / "node" / "node_modules" / PACKAGE
    return folder if (folder / "wasm" / "gnuspeech.js").is_file() else None


def installed() -> bool:
    return package_dir() is not None


@lru_cache(maxsize=None)
def tract_length(preset: str) -> float:
    """The preset's vocal tract length in cm (male 17.5, female 15, large_child 12.5), from its file."""
    folder = package_dir()
    try:
        text = (folder / "data" / "en" / f"voice_{preset}.txt").read_text() if folder else ""
    except OSError as error:
        raise SynthesisError(f"no GnuSpeech voice {preset!r} (expected one of {', '.join(PRESETS)}): {error}") from error
    found = re.search(r"^vocal_tract_length\s*=\s*([\d.]+)", text, re.M)
    if not found:
        raise SynthesisError(f"no vocal_tract_length in GnuSpeech's voice_{preset}.txt ({folder or 'not installed'})")
    return float(found.group(1))


def speak(text: str, preset: str, tempo: float, pitch: float, tract: float) -> tuple[np.ndarray, int]:
    """``text`` read by ``preset`` with its vocal tract ``tract`` times as long, at ``tempo`` (> 1 is
    faster) and ``pitch`` (the control model's pitch offset, semitones): ``(samples, rate)``."""
    import soundfile

    if not SPEAKABLE.search(text):  # GnuSpeech throws on punctuation alone (",", "--", "?")
        return np.zeros(0, np.float32), RATE
    request = {"text": text, "voice": preset, "settings": {"tempo": tempo, "pitch_offset": pitch, **REPEATABLE},
               "voice_settings": {"vocal_tract_length": round(tract_length(preset) * tract, 3)}}
    with tempfile.TemporaryDirectory(prefix="audiosift-gnuspeech-") as folder:
        request["output"] = str(Path(folder) / "speech.wav")
        _driver().ask(request)
        try:
            samples, rate = soundfile.read(request["output"], dtype="float32", always_2d=True)
        except (OSError, RuntimeError) as error:
            raise SynthesisError(f"GnuSpeech wrote no readable audio for {text[:60]!r} ({error})") from error
    return samples.mean(axis=1), rate


class _Driver:
    """The Node.js process that runs the synthesizer; restarted if it dies or stalls."""

    def __init__(self):
        self.process: subprocess.Popen | None = None
        self.lock = threading.Lock()

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
                # A C++ exception inside WebAssembly leaks its memory (measured: ~6 MB each) and may
                # leave the module's state half-changed: the next request gets a fresh driver.
                self._stop()
        if answer != "ok":
            raise SynthesisError(f"GnuSpeech failed on {request['text'][:60]!r}: {answer.removeprefix('error ')}")

    def _start(self) -> subprocess.Popen:
        folder = package_dir()
        if folder is None:
            raise SynthesisError(f"GnuSpeech is not installed (needs node, and: npm install --prefix "
                                 f"{Path(sys.prefix) / 'node'} {PACKAGE}@{VERSION})")
        self.stderr = tempfile.TemporaryFile()  # a file, not a pipe: a full pipe would block the driver
        return subprocess.Popen(["node", str(DRIVER), str(folder)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=self.stderr, text=True, bufsize=1)

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
            raise SynthesisError(f"GnuSpeech's driver {'stalled' if not ready else 'exited'}: {stderr}")
        return line

    def _stop(self) -> None:
        self.process.kill()
        self.close()

    def close(self) -> None:
        """End the driver (at exit: its stdin closes, and it ends after its current request)."""
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


@lru_cache(maxsize=1)
def _driver() -> _Driver:
    driver = _Driver()
    atexit.register(driver.close)
    return driver
