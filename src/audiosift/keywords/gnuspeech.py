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

import os
import re
import shutil
import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

from audiosift.keywords.driver import SynthesizerProcess
from audiosift.keywords.engines import SynthesisError

PACKAGE = "@echogarden/gnuspeech-wasm"
VERSION = "0.3.0"
FOLDER_VARIABLE = "AUDIOSIFT_GNUSPEECH"
# Presets that sound like speech: measured, openWakeWord's "hey jarvis" head fired on 7, 6 and 4 of
# 9 male, female and large_child clips (tract length x tempo grid) and on none of small_child or baby.
PRESETS = ("male", "female", "large_child")
DEFAULT_PITCH = -4.0  # semitones: the package's control model's pitch_offset
REPEATABLE = {"random_intonation": 0, "intonation_drift": 0}
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
    if not SPEAKABLE.search(text):  # GnuSpeech throws on punctuation alone (",", "--", "?")
        return np.zeros(0, np.float32), RATE
    request = {"text": text, "voice": preset, "settings": {"tempo": tempo, "pitch_offset": pitch, **REPEATABLE},
               "voice_settings": {"vocal_tract_length": round(tract_length(preset) * tract, 3)}}
    return _driver().speak(request)


@lru_cache(maxsize=1)
def _driver() -> SynthesizerProcess:
    # A C++ exception inside WebAssembly leaks its memory (measured: ~6 MB each) and may leave the
    # module's state half-changed: after a failure the next request gets a fresh driver.
    return SynthesizerProcess("GnuSpeech", _command)


def _command() -> list[str]:
    folder = package_dir()
    if folder is None:
        raise SynthesisError(f"GnuSpeech is not installed (needs node, and: npm install --prefix "
                             f"{Path(sys.prefix) / 'node'} {PACKAGE}@{VERSION})")
    return ["node", str(DRIVER), str(folder)]
