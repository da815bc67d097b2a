"""Tiny local datasets with the schemas of the seed's four hub datasets, as parquet and as class folders.

Each has a handful of short clips per class, made on the spot (espeak-ng speech, tones, noise), so
tests run the real ``datasets`` reading path (ClassLabel features, Audio columns, 8/16/44.1 kHz)
without a hub. Columns and feature types follow the hub datasets:
- ``minds14`` (PolyAI/minds14): path, audio (8 kHz), transcription, english_transcription,
  intent_class (ClassLabel, 14 intents), lang_id (ClassLabel, 14 locales);
- ``speech_commands`` (v0.02): file, audio (16 kHz), label (ClassLabel: 35 words, ``_silence_``,
  ``_unknown_``), is_unknown, speaker_id, utterance_id;
- ``fleurs`` (google/fleurs): id, num_samples, path, audio (16 kHz), transcription, raw_transcription,
  gender, lang_id (ClassLabel of codes), language (string: the English name), lang_group_id;
- ``esc50`` (ashraq/esc50): filename, fold, target, category (string), esc10, src_file, take, audio (44.1 kHz).
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

import audio_factory
from model_factory import ESC50, INTENTS

MINDS14_LOCALES = ["cs-CZ", "de-DE", "en-AU", "en-GB", "en-US", "es-ES", "fr-FR", "it-IT", "ko-KR", "nl-NL",
                   "pl-PL", "pt-PT", "ru-RU", "zh-CN"]
# speech_commands v0.02 ClassLabel order (not alphabetical: model label ids differ from these).
SPEECH_COMMANDS_LABELS = ["yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go", "zero", "one",
                          "two", "three", "four", "five", "six", "seven", "eight", "nine", "bed", "bird", "cat",
                          "dog", "happy", "house", "marvin", "sheila", "tree", "wow", "backward", "forward",
                          "follow", "learn", "visual", "_silence_", "_unknown_"]
FLEURS_LANGUAGES = {"en_us": ("English", "en"), "fr_fr": ("French", "fr"), "de_de": ("German", "de")}

MINDS14_PHRASES = {"abroad": "I am travelling abroad next week", "balance": "what is my account balance",
                   "pay_bill": "I would like to pay a bill"}
KEYWORD_CLASSES = ["yes", "no", "marvin", "_silence_", "_unknown_"]
ESC50_SOUNDS = {"dog": ("tone", 300.0), "rain": ("noise", 0.2), "siren": ("tone", 900.0), "clock_tick": ("click", 2.0)}


@dataclass(frozen=True)
class FixtureDataset:
    name: str
    parquet: Path  # one parquet file with the hub schema
    folder: Path  # <folder>/<label>/<clip>.wav
    label_column: str
    labels: list[str]  # the label names present (folder names)
    size: int


def _speech(text: str, rate: int, speed: int = 160, voice: str = "en") -> np.ndarray:
    with tempfile.TemporaryDirectory() as scratch:
        path = audio_factory.speak(text, Path(scratch) / "speech.wav", voice=voice, speed=speed)
        samples, source_rate = sf.read(path, dtype="float32")
    import soxr

    return soxr.resample(samples, source_rate, rate).astype(np.float32)


def _sound(kind: str, value: float, rate: int, seconds: float, seed: int) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    rng = np.random.default_rng(seed)
    if kind == "tone":
        return (0.4 * np.sin(2 * np.pi * value * (1 + 0.01 * seed) * t)).astype(np.float32)
    if kind == "noise":
        return rng.uniform(-value, value, t.size).astype(np.float32)
    clicks = np.zeros(t.size, dtype=np.float32)  # "click": short bursts value times a second
    for start in np.arange(0, seconds, 1 / value):
        i = int(start * rate)
        clicks[i:i + rate // 200] = rng.uniform(-0.8, 0.8, len(clicks[i:i + rate // 200]))
    return clicks


def _wav_bytes(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def _write(name: str, folder: Path, rows: list[dict], features, label_column: str, label_of) -> FixtureDataset:
    """rows carry "_samples", "_rate", "_file" besides the schema's columns."""
    from datasets import Audio, Dataset, Features, Value

    folder.mkdir(parents=True, exist_ok=True)
    classes = folder / "classes"
    for row in rows:
        label = label_of(row)
        (classes / label).mkdir(parents=True, exist_ok=True)
        sf.write(classes / label / row["_file"], row["_samples"], row["_rate"], subtype="PCM_16")
        row["audio"] = {"bytes": _wav_bytes(row["_samples"], row["_rate"]), "path": row["_file"]}
    columns = {key: [row[key] for row in rows] for key in features}
    # datasets 5 encodes Audio only through torchcodec: build the column as a plain struct, then cast.
    plain = Features({key: ({"bytes": Value("binary"), "path": Value("string")} if key == "audio" else feature)
                      for key, feature in features.items()})
    table = Dataset.from_dict(columns, features=plain).cast_column("audio", Audio(sampling_rate=rows[0]["_rate"]))
    parquet = folder / f"{name}.parquet"
    table.to_parquet(str(parquet))
    labels = sorted({label_of(row) for row in rows})
    return FixtureDataset(name, parquet, classes, label_column, labels, len(rows))


def build_minds14(folder: Path, per_class: int = 2) -> FixtureDataset:
    from datasets import ClassLabel, Value

    rows = []
    for intent, phrase in MINDS14_PHRASES.items():
        for take in range(per_class):
            file = f"{intent}_{take}.wav"
            rows.append(dict(path=file, transcription=phrase, english_transcription=phrase,
                             intent_class=INTENTS.index(intent), lang_id=MINDS14_LOCALES.index("en-AU"),
                             _samples=_speech(phrase, 8000, speed=150 + 30 * take), _rate=8000, _file=file))
    features = {"path": Value("string"), "audio": None, "transcription": Value("string"),
                         "english_transcription": Value("string"), "intent_class": ClassLabel(names=INTENTS),
                         "lang_id": ClassLabel(names=MINDS14_LOCALES)}
    return _write("minds14", folder, rows, features, "intent_class", lambda row: INTENTS[row["intent_class"]])


def build_speech_commands(folder: Path, per_class: int = 2) -> FixtureDataset:
    from datasets import ClassLabel, Value

    rows = []
    for label in KEYWORD_CLASSES:
        for take in range(per_class):
            if label == "_silence_":
                samples = _sound("noise", 0.01 * (take + 1), 16000, 1.0, seed=take)
            else:
                word = "bottle" if label == "_unknown_" else label
                samples = _fit(_speech(word, 16000, speed=150 + 30 * take), 16000)
            file = f"{label}/{take:04d}_nohash_0.wav"
            rows.append(dict(file=file, label=SPEECH_COMMANDS_LABELS.index(label), is_unknown=label == "_unknown_",
                             speaker_id=f"{take:04d}", utterance_id=0, _samples=samples, _rate=16000,
                             _file=f"{take:04d}_nohash_0.wav"))
    features = {"file": Value("string"), "audio": None, "label": ClassLabel(names=SPEECH_COMMANDS_LABELS),
                         "is_unknown": Value("bool"), "speaker_id": Value("string"), "utterance_id": Value("int8")}
    return _write("speech_commands", folder, rows, features, "label",
                  lambda row: SPEECH_COMMANDS_LABELS[row["label"]])


def _fit(samples: np.ndarray, length: int) -> np.ndarray:
    """Pad or cut to exactly ``length`` samples (speech_commands clips are 1 s)."""
    return np.pad(samples, (0, max(0, length - samples.size)))[:length]


def build_fleurs(folder: Path, per_class: int = 2) -> FixtureDataset:
    from datasets import ClassLabel, Value

    sentences = {"en": "the weather is nice today", "fr": "il fait beau aujourd'hui",
                 "de": "das Wetter ist heute schön"}
    codes = list(FLEURS_LANGUAGES)
    rows = []
    for code, (language, voice) in FLEURS_LANGUAGES.items():
        for take in range(per_class):
            samples = _speech(sentences[voice], 16000, speed=150 + 30 * take, voice=voice)
            file = f"{code}_{take}.wav"
            rows.append(dict(id=1000 + take, num_samples=samples.size, path=file, transcription=sentences[voice],
                             raw_transcription=sentences[voice], gender=take % 2, lang_id=codes.index(code),
                             language=language, lang_group_id=0, _samples=samples, _rate=16000, _file=file))
    features = {"id": Value("int32"), "num_samples": Value("int32"), "path": Value("string"), "audio": None,
                         "transcription": Value("string"), "raw_transcription": Value("string"),
                         "gender": ClassLabel(names=["male", "female", "other"]), "lang_id": ClassLabel(names=codes),
                         "language": Value("string"), "lang_group_id": ClassLabel(names=["western_european_we"])}
    return _write("fleurs", folder, rows, features, "language", lambda row: row["language"])


def build_esc50(folder: Path, per_class: int = 2, seconds: float = 1.0) -> FixtureDataset:
    from datasets import Value

    rows = []
    for category, (kind, value) in ESC50_SOUNDS.items():
        target = ESC50.index(category)
        for take in range(per_class):
            file = f"{take + 1}-{100 + target}-A-{target}.wav"
            rows.append(dict(filename=file, fold=take % 5 + 1, target=target, category=category, esc10=False,
                             src_file=100 + target, take="A", _samples=_sound(kind, value, 44100, seconds, take),
                             _rate=44100, _file=file))
    features = {"filename": Value("string"), "fold": Value("int64"), "target": Value("int64"),
                         "category": Value("string"), "esc10": Value("bool"), "src_file": Value("int64"),
                         "take": Value("string"), "audio": None}
    return _write("esc50", folder, rows, features, "category", lambda row: row["category"])


BUILDERS = {"minds14": build_minds14, "speech_commands": build_speech_commands, "fleurs": build_fleurs,
            "esc50": build_esc50}


def build(name: str, folder: Path, per_class: int = 2) -> FixtureDataset:
    return BUILDERS[name](Path(folder) / name, per_class)


def write_manifest(folder: Path, rows: list[tuple[str, str]], suffix: str = ".csv") -> Path:
    """A manifest of (path, label) rows; paths as given (relative ones resolve against ``folder``)."""
    import csv
    import json

    path = Path(folder) / f"manifest{suffix}"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        if suffix == ".csv":
            writer = csv.writer(handle)
            writer.writerow(["path", "label"])
            writer.writerows(rows)
        else:
            for clip, label in rows:
                handle.write(json.dumps({"path": clip, "label": label}) + "\n")
    return path


def session_datasets(base: Path) -> dict[str, FixtureDataset]:
    """All four fixture datasets under ``base``, built once per test session (a marker file says done).

    Several conftest files share them through this function, keyed by pytest's session temp folder.
    """
    base = Path(base) / "fixture_datasets"
    built = {name: _describe(name, base / name) for name in BUILDERS}
    if not (base / "done").exists():
        built = {name: build(name, base) for name in BUILDERS}
        (base / "done").write_text("ok")
    return built


def _describe(name: str, folder: Path) -> FixtureDataset:
    classes = folder / "classes"
    labels = sorted(p.name for p in classes.iterdir()) if classes.is_dir() else []
    size = sum(1 for _ in classes.rglob("*.wav")) if classes.is_dir() else 0
    column = {"minds14": "intent_class", "speech_commands": "label", "fleurs": "language", "esc50": "category"}[name]
    return FixtureDataset(name, folder / f"{name}.parquet", classes, column, labels, size)


# Fixtures shared by tests/datasets, tests/evaluation, tests/distributed and the evaluate CLI tests
# (each imports them into its conftest or module: pytest finds fixtures by name there).
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def fixture_datasets(tmp_path_factory) -> dict[str, FixtureDataset]:
    return session_datasets(tmp_path_factory.getbasetemp())


@pytest.fixture(autouse=True)
def isolated_datasets_cache(tmp_path_factory, monkeypatch):
    """datasets caches what it reads from parquet: keep that out of ~/.cache during tests."""
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path_factory.getbasetemp() / "hf_datasets_cache")
