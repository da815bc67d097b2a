"""Speech made on the spot for keyword training: every installed synthesizer's voices, English text
for negatives, and near-misses built from the phrase itself.

Synthesizers are the Debian programs ``espeak-ng`` (accents x voice variants, rate and pitch) and
``flite`` (its voices, duration stretch and pitch), and Piper's neural voices where a package ships
them (``piper_voices``: speed and a pitch-and-formant shift make more speakers of each), and
GnuSpeech's articulatory voices where Node.js and its package are installed (``gnuspeech``: a
speaker drawn as a vocal tract length, pitch and tempo), and SVOX Pico's two English voices where
``py-nanotts`` is installed (``pico``: Android's former HMM synthesizer, its pitch drawn apart from
a formant shift); each is optional, and a missing one only narrows the voices. Audio comes back as
16 kHz mono float32 in [-1, 1].
"""

from __future__ import annotations

import difflib
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from audiosift.audio.decode import resample
from audiosift.errors import UsageError
from audiosift.keywords import gnuspeech, pico, piper_voices
from audiosift.keywords.engines import ENGINES, SynthesisError

RATE = 16000
LICENCE_DIR = Path("/usr/share/common-licenses")
# Licence texts are split by file: training reads these, the benchmark's held-out speech reads the
# others (BENCH_TEXTS), so no sentence it scores was seen in training.
BENCH_TEXTS = ("Artistic", "BSD", "MPL-2.0", "CC0-1.0")
OTHER_WORD_SWAPS = 10  # near-misses per word of the phrase with that word swapped for a random one
# flite's `awb_time` speaks clock times only; `kal` is its 8 kHz diphone voice (kal16 is kept).
FLITE_SKIP = {"awb_time", "kal"}


@dataclass(frozen=True)
class Voice:
    """One way of speaking: ``engine`` espeak, flite, piper, gnuspeech or pico, ``name`` (espeak
    ``en-us+m3``, flite ``slt``, piper ``en_US-joe-medium``, gnuspeech ``female``, pico ``en-GB``),
    ``rate`` (espeak words a minute; flite, piper and pico duration stretch, 1 = normal; gnuspeech
    tempo, > 1 faster), ``pitch`` (espeak 0-99; flite target f0 in Hz, 0 = the voice's own; piper
    semitones up or down, the formants moving with it as in a smaller or larger speaker; gnuspeech
    pitch offset in semitones; pico a factor of the voice's f0, the formants kept) and ``tract``
    (gnuspeech and pico: vocal tract length, a factor of the voice's; > 1 lowers the formants)."""

    engine: str
    name: str
    rate: float
    pitch: float
    tract: float = 1.0

    @property
    def key(self) -> str:
        return f"{self.engine}:{self.name}"


def engines_available() -> list[str]:
    return [name for name, engine in SYNTHESIZERS.items() if engine.installed()]


@lru_cache(maxsize=1)
def espeak_accents() -> tuple[str, ...]:
    """English accents espeak-ng speaks itself (mbrola voices need separate data: left out)."""
    out = _run(["espeak-ng", "--voices=en"]).decode()
    accents = []
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 5 and not parts[4].startswith("mb/") and parts[1].startswith("en"):
            accents.append(parts[1])
    return tuple(dict.fromkeys(accents))


@lru_cache(maxsize=1)
def espeak_variants() -> tuple[str, ...]:
    """espeak-ng's voice variants (``m3``, ``f2``, ``klatt``, ...), as its ``+variant`` names."""
    out = _run(["espeak-ng", "--voices=variant"]).decode()
    names = [line.split()[4].removeprefix("!v/") for line in out.splitlines()[1:] if len(line.split()) >= 5]
    return tuple(dict.fromkeys(names))


@lru_cache(maxsize=1)
def flite_voices() -> tuple[str, ...]:
    out = _run(["flite", "-lv"]).decode()
    names = out.split(":", 1)[-1].split()
    return tuple(name for name in names if name not in FLITE_SKIP)


def random_voices(engine: str, count: int, rng: np.random.Generator, variants=None) -> list[Voice]:
    """``count`` voices of ``engine`` drawn at random (espeak: accent x variant x rate x pitch, from
    ``variants`` if given; flite: voice x stretch x pitch; piper: voice x stretch x shift;
    gnuspeech: preset x tract length x tempo x pitch; pico: voice x stretch x pitch x tract length)."""
    draw = _synthesizer(engine).draw
    return [draw(rng, variants) for _ in range(count)]


def reseed(seed: int) -> None:
    """Make what the synthesizers say from here on repeatable (espeak-ng and flite always are)."""
    piper_voices.reseed(seed)


def synthesize(text: str, voice: Voice) -> np.ndarray:
    """``text`` spoken by ``voice``: 16 kHz mono float32, the synthesizer's own silences trimmed."""
    return trim(_synthesizer(voice.engine).speak(text, voice))


def _synthesizer(engine: str) -> Synthesizer:
    if engine not in SYNTHESIZERS:
        raise UsageError(f"unknown synthesizer {engine!r}: expected one of {', '.join(ENGINES)}")
    return SYNTHESIZERS[engine]


def _draw_espeak(rng: np.random.Generator, variants) -> Voice:
    accent = str(rng.choice(espeak_accents()))
    variant = str(rng.choice(variants or espeak_variants()))
    return Voice("espeak", f"{accent}+{variant}", float(rng.integers(110, 230)), float(rng.integers(20, 80)))


def _speak_espeak(text: str, voice: Voice) -> np.ndarray:
    # "--": a text starting with "-" ("-Mozilla") would be read as an option: exit 0, no file.
    return _program_speech(lambda path: ["espeak-ng", "-v", voice.name, "-s", str(int(voice.rate)),
                                         "-p", str(int(voice.pitch)), "-w", path, "--", text], text)


def _draw_flite(rng: np.random.Generator, variants) -> Voice:
    return Voice("flite", str(rng.choice(flite_voices())), float(rng.uniform(0.8, 1.35)),
                 float(rng.choice([0, 0, rng.uniform(80, 220)])))


def _speak_flite(text: str, voice: Voice) -> np.ndarray:
    def command(path: str) -> list[str]:
        pitch = ["--setf", f"int_f0_target_mean={voice.pitch:.0f}"] if voice.pitch else []
        return ["flite", "-voice", voice.name, "--setf", f"duration_stretch={voice.rate:.3f}", *pitch,
                "-t", text, "-o", path]
    return _program_speech(command, text)


def _program_speech(command: Callable[[str], list[str]], text: str) -> np.ndarray:
    """What a synthesizer program writes to the WAV path given to ``command``, mono at 16 kHz."""
    with tempfile.TemporaryDirectory(prefix="audiosift-tts-") as folder:
        path = Path(folder) / "speech.wav"
        samples, rate = _read_written(command(str(path)), path, text)
    return resample(samples.mean(axis=1).astype(np.float32, copy=False), rate, RATE)


def _draw_piper(rng: np.random.Generator, variants) -> Voice:
    return Voice("piper", str(rng.choice(sorted(piper_voices.installed()))), float(rng.uniform(0.8, 1.3)),
                 float(rng.choice([0, rng.uniform(-4, 4)])))


def _draw_gnuspeech(rng: np.random.Generator, variants) -> Voice:
    # Tract lengths 0.9-1.1 of the presets' 17.5 / 15 / 12.5 cm span 11-19 cm, men to children.
    return Voice("gnuspeech", str(rng.choice(gnuspeech.PRESETS)), float(rng.uniform(0.8, 1.3)),
                 gnuspeech.DEFAULT_PITCH + float(rng.uniform(-3, 3)), float(rng.uniform(0.9, 1.1)))


def _speak_gnuspeech(text: str, voice: Voice) -> np.ndarray:
    samples, rate = gnuspeech.speak(text, voice.name, voice.rate, voice.pitch, voice.tract)
    return resample(samples, rate, RATE)


def _draw_pico(rng: np.random.Generator, variants) -> Voice:
    return Voice("pico", str(rng.choice(pico.VOICES)), float(rng.uniform(0.8, 1.3)), float(rng.uniform(*pico.PITCH)),
                 float(rng.uniform(*pico.TRACT)))


def _speak_pico(text: str, voice: Voice) -> np.ndarray:
    return pico.speak(text, voice.name, voice.rate, voice.pitch, voice.tract)


def _read_written(command: list[str], path: Path, text: str) -> tuple[np.ndarray, int]:
    """Run ``command`` and read the WAV file it writes (a program that exits 0 without writing one
    is a typed failure, not soundfile's error)."""
    import soundfile

    _run(command)
    try:
        return soundfile.read(path, dtype="float32", always_2d=True)
    except (OSError, RuntimeError) as error:  # soundfile's LibsndfileError is a RuntimeError
        raise SynthesisError(f"{command[0]} wrote no readable audio for {text[:60]!r} ({error})") from error


def _piper(text: str, voice: Voice) -> np.ndarray:
    model = piper_voices.installed().get(voice.name)
    if model is None:
        raise SynthesisError(f"no Piper voice {voice.name!r} is installed (pip install 'audiosift[keyword-voices]')")
    # A pitch shift of s semitones is the audio played 2^(s/12) times faster: pitch and formants
    # rise together, as from a smaller speaker; stretching the speech by the same factor first
    # keeps its duration.
    factor = 2.0 ** (voice.pitch / 12)
    audio = piper_voices.speak(text, model, voice.rate * factor, _run)
    return resample(audio, model.rate * factor, RATE)


def trim(samples: np.ndarray, level: float = 0.005) -> np.ndarray:
    """Cut silence at both ends (below ``level``, about -46 dBFS; the synthesizers' pads are exact zeros)."""
    loud = np.flatnonzero(np.abs(samples) > level)
    if len(loud) == 0:
        return samples[:0]
    return np.ascontiguousarray(samples[loud[0]: loud[-1] + 1], dtype=np.float32)


def _run(command: list[str]) -> bytes:
    if shutil.which(command[0]) is None:
        raise SynthesisError(f"{command[0]} is not installed (Debian/Ubuntu: apt-get install {command[0]})")
    try:
        return subprocess.run(command, check=True, capture_output=True, timeout=120).stdout
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        stderr = getattr(error, "stderr", b"") or b""
        raise SynthesisError(f"{command[0]} failed on {command[-1][:60]!r}: {stderr.decode(errors='replace')[:200]}") from error


def sentences(bench: bool = False, exclude: str = "") -> list[str]:
    """Sentences of the licence texts: the training files, or (``bench``) the held-out ones.
    Sentences containing ``exclude`` (the phrase) are left out: they would be positives."""
    chosen = []
    for path in sorted(LICENCE_DIR.glob("*")):
        if path.is_file() and (path.name in BENCH_TEXTS) == bench:
            chosen.append(path.read_text(errors="replace"))
    text = re.sub(r"[^A-Za-z0-9,.;:!?'\- ]+", " ", " ".join(chosen))
    parts = [re.sub(r"\s+", " ", part).strip() for part in re.split(r"(?<=[.;:!?])\s+", text)]
    unique = list(dict.fromkeys(part for part in parts if len(part.split()) >= 3))
    if exclude:
        unique = [part for part in unique if exclude.lower() not in part.lower()]
    if not unique:
        raise SynthesisError(f"no English text found in {LICENCE_DIR} (Debian's base-files package puts it there)")
    return unique


def vocabulary(texts: list[str]) -> list[str]:
    return sorted({word.lower() for text in texts for word in re.findall(r"[A-Za-z]{2,}", text)})


def similar_words(phrase: str, vocab: list[str], cutoff: float = 0.5) -> list[str]:
    """Words of ``vocab`` spelt like one of the phrase's words (difflib ratio >= ``cutoff``), its
    plurals and the words themselves left out: "computer" -> compute, compiler, commuter, ..."""
    words = phrase.lower().split()
    out = []
    for word in words:
        similar = difflib.get_close_matches(word, vocab, n=30, cutoff=cutoff)
        out += [other for other in similar if other not in (word, word + "s", word + "es")]
    return list(dict.fromkeys(out))


def sentences_with(texts: list[str], words: list[str]) -> list[str]:
    """The texts holding one of ``words``: running speech with the sounds the keyword is made of."""
    wanted = set(words)
    return [text for text in texts if wanted & {w.lower() for w in re.findall(r"[A-Za-z]+", text)}]


def near_misses(phrase: str, vocab: list[str], rng: np.random.Generator, count: int = 40) -> list[str]:
    """Texts that sound like parts of ``phrase`` without being it: each word alone, the phrase with a
    word dropped or swapped for a similar-looking word of ``vocab`` or for any other word (measured:
    a "hey computer" head fired on 7 of 120 flite "hey jarvis" clips: "hey" then any word is not the
    keyword), its words reversed, and the phrase cut short (its first words plus the start of the
    last one)."""
    words = phrase.lower().split()
    found: list[str] = list(words)
    if len(words) > 1:
        found += [" ".join(words[:i] + words[i + 1:]) for i in range(len(words))]
        found.append(" ".join(reversed(words)))
    last = words[-1]
    if len(last) >= 5:
        found.append(" ".join(words[:-1] + [last[: len(last) // 2 + 1]]))
    for i, word in enumerate(words):
        # A word's plural or the word itself would teach the model that the keyword is a non-keyword.
        for other in similar_words(word, vocab, cutoff=0.6)[:12]:
            found.append(" ".join(words[:i] + [other] + words[i + 1:]))
            found.append(other)
        if len(words) > 1:
            unlike = [other for other in vocab if len(other) >= 4 and not other.startswith(word[:3])]
            for other in rng.choice(unlike, size=min(OTHER_WORD_SWAPS, len(unlike)), replace=False):
                found.append(" ".join(words[:i] + [str(other)] + words[i + 1:]))
    found = [text for text in dict.fromkeys(found) if text and text != phrase.lower()]
    rng.shuffle(found)
    return found[:count]


def check_phrase(phrase: str) -> str:
    cleaned = re.sub(r"\s+", " ", phrase or "").strip()
    if not re.fullmatch(r"[A-Za-z][A-Za-z' \-]*", cleaned) or len(cleaned) > 60:
        raise UsageError(f"the keyword must be 1-60 characters of English words (letters, spaces, - or '), "
                         f"got {phrase!r}")
    return cleaned


@dataclass(frozen=True)
class Synthesizer:
    """One engine train-keyword speaks with: whether it is installed, how a random voice of it is
    drawn (``variants``: espeak-ng's allowed voice variants, ignored by the others) and how it
    speaks (16 kHz mono float32; :func:`synthesize` trims it)."""

    installed: Callable[[], bool]
    draw: Callable[[np.random.Generator, object], Voice]
    speak: Callable[[str, Voice], np.ndarray]


# Every synthesizer, in the order training takes turns between them (engines.ENGINES says how to
# install each). Piper's phonemes come from espeak-ng, so it needs both.
SYNTHESIZERS = {
    "espeak": Synthesizer(lambda: shutil.which("espeak-ng") is not None, _draw_espeak, _speak_espeak),
    "flite": Synthesizer(lambda: shutil.which("flite") is not None, _draw_flite, _speak_flite),
    "piper": Synthesizer(lambda: shutil.which("espeak-ng") is not None and bool(piper_voices.installed()),
                         _draw_piper, _piper),
    "gnuspeech": Synthesizer(gnuspeech.installed, _draw_gnuspeech, _speak_gnuspeech),
    "pico": Synthesizer(pico.installed, _draw_pico, _speak_pico),
}
