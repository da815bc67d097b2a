"""Test audio made on the spot: espeak-ng speech, tones and noise, converted with ffmpeg/sox.

Nothing is downloaded. Every helper returns the path it wrote.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

# ffmpeg arguments per container: the codecs users meet (browsers record webm/opus; phones m4a/aac).
FFMPEG_CODECS = {
    "flac": ["-c:a", "flac"],
    "ogg": ["-c:a", "libvorbis"],
    "opus": ["-c:a", "libopus"],
    "mp3": ["-c:a", "libmp3lame"],
    "webm": ["-c:a", "libopus"],
    "m4a": ["-c:a", "aac"],
}


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise RuntimeError(f"{tool} is not installed: run `make setup` (it installs espeak-ng, sox and ffmpeg)")
    return path


def speak(text: str, path: Path, voice: str = "en", speed: int = 150) -> Path:
    """espeak-ng speech (22.05 kHz mono int16 wav)."""
    subprocess.run([require("espeak-ng"), "-v", voice, "-s", str(speed), "-w", str(path), text], check=True)
    return Path(path)


def tone(path: Path, frequency: float = 440.0, seconds: float = 1.0, rate: int = 16000, amplitude: float = 0.5) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32), rate, subtype="PCM_16")
    return Path(path)


def noise(path: Path, seconds: float = 1.0, rate: int = 16000, amplitude: float = 0.3, seed: int = 0) -> Path:
    samples = np.random.default_rng(seed).uniform(-amplitude, amplitude, int(seconds * rate)).astype(np.float32)
    sf.write(path, samples, rate, subtype="PCM_16")
    return Path(path)


def convert(source: Path, target: Path, rate: int | None = None, channels: int | None = None) -> Path:
    """Re-encode with ffmpeg; the container/codec follows the target's suffix."""
    args = [require("ffmpeg"), "-loglevel", "error", "-y", "-i", str(source)]
    if rate:
        args += ["-ar", str(rate)]
    if channels:
        args += ["-ac", str(channels)]
    args += FFMPEG_CODECS.get(Path(target).suffix.lstrip("."), []) + [str(target)]
    subprocess.run(args, check=True)
    return Path(target)
