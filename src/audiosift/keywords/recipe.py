"""How much data a keyword is trained on (the budgets), and the assembly of that data: synthesized
positives and negatives by voice splits, the user's own recordings, all turned into head windows.

Held-out data never shares an espeak-ng voice variant with training: a fifth of them are kept for
it (flite and Piper voices are few, so there only the stretch x pitch draws differ), and its
sentences are every tenth one of the training texts, which training skips. Voices take turns
between the synthesizers in use, so each speaks an equal share of every kind of clip.
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from audiosift.errors import AudiosiftError, UsageError
from audiosift.keywords import dataset, synth
from audiosift.keywords.dataset import Clip, Windows
from audiosift.keywords.engines import ENGINES, SynthesisError


@dataclass(frozen=True)
class Recipe:
    name: str
    positives: int  # synthesized keyword clips for training
    heldout_positives: int
    speech_minutes: float  # read text for training negatives
    heldout_minutes: float  # held-out negatives: read text, plus a third as much non-speech
    near_misses: int  # clips of near-miss texts (parts of the phrase, similar words)
    snippets: int  # clips of 1-4 word runs of text
    noise_minutes: float  # noise, tones, music-like sound for training
    steps: int  # optimiser steps of the head
    hidden: tuple[int, ...] = (128, 64)
    example_copies: int = 20  # augmented copies of each user recording
    heads: int = 2  # MLPs trained from different seeds, two at a time; the detector averages them
    # The detector's score: the mean of its last 3 frames (240 ms). With positives 0.8 s long
    # (dataset.POSITIVE_AFTER_S) 3 beat 5 and 8 on the same heads ("hey jarvis" seed 7, 3 head seeds:
    # 95.0 / 95.8 / 93.3% at <= 1 false accept/h, against 90.8 / 91.7 / 90.8% with 5).
    smoothing_frames: int = 3

    def as_dict(self) -> dict:
        return {**asdict(self), "hidden": list(self.hidden)}  # as JSON will give it back


BUDGETS = {
    # tiny: for tests and a first look (about half a minute); quick: a few minutes; standard: the default.
    "tiny": Recipe("tiny", 30, 10, 1.0, 0.5, 12, 12, 0.5, 300, (32,), 4),
    "quick": Recipe("quick", 250, 60, 8.0, 4.0, 80, 100, 3.0, 1500),
    # standard: running speech is where false accepts come from, and 50 min of it was too little
    # (measured on cached windows: 100 min with 1600 positives beat 50 min with 2400 at the same cost;
    # 180 min beat 100; 3200 positives did not beat 1600). 200 min: with Pico's fast voices it fits in
    # 8.6-9.8 minutes of training (measured on "hey jarvis" seed 2 at <= 1 false accept/h on held-out
    # flite: 87.5% with 150 min, 95.8% with 200).
    # 20 min of held-out speech: the threshold rests on its highest-scoring false accepts.
    "standard": Recipe("standard", 1600, 150, 200.0, 20.0, 300, 400, 10.0, 4000, (256, 128), heads=4),
}

Progress = Callable[[str], None]
SCRAMBLED_PER_POSITIVE = 0.4  # scrambled copies of the keyword per positive (hard negatives)
# Clips asked for and not yet embedded: enough for every synthesizer to stay busy while one is slow,
# few enough to bound memory (a clip is seconds of audio: 16 of ~14 s are ~14 MB).
PENDING_CLIPS = 16
BABBLE_CHUNKS = 40  # the first chunks of training speech, kept as background babble
SIMILAR_SHARE = 0.5  # of the read text: sentences holding words like the phrase's
MAX_SYNTHESIS_FAILURES = 20  # texts a run may skip before it stops: beyond, a synthesizer is broken


def recipe_named(name: str) -> Recipe:
    if name not in BUDGETS:
        raise UsageError(f"unknown budget {name!r}: expected one of {', '.join(BUDGETS)}")
    return BUDGETS[name]


@dataclass
class Collected:
    train: Windows
    heldout: list[tuple[np.ndarray, tuple[float, float] | None, float, str]]  # (windows, span, seconds, group)
    counts: dict


class Assembler:
    """Makes the clips of one recipe and turns them into windows as they come (bounded memory).

    Each synthesizer speaks on a thread of its own (espeak-ng, flite, GnuSpeech's driver and Pico's
    worker are programs of their own, Piper's onnxruntime releases the GIL), so they run side by side, while
    another thread augments and embeds the clips as their speech arrives. This thread only draws
    the random choices and hands out the work (``say`` returns a future). The randomness stays
    repeatable: every choice is drawn here in order, each clip's augmentation from its own
    generator, each synthesizer's calls run in the order made (Piper's random ops draw from one
    seeded session), and windows are stored in the order the clips were asked for."""

    def __init__(self, phrase: str, recipe: Recipe, engines: list[str], rng: np.random.Generator,
                 extractor, progress: Progress):
        self.phrase, self.recipe, self.engines, self.rng = phrase, recipe, engines, rng
        self.extractor, self.progress = extractor, progress
        self.train, self.heldout, self.counts = Windows(), [], {}
        variants = list(synth.espeak_variants()) if "espeak" in engines else []
        rng.shuffle(variants)
        cut = max(1, len(variants) // 5) if variants else 0
        self.variants = {"heldout": variants[:cut], "train": variants[cut:]}
        texts = synth.sentences(exclude=phrase)
        self.texts = {"heldout": texts[::10], "train": [t for i, t in enumerate(texts) if i % 10]}
        self.vocab = synth.vocabulary(texts)
        self.pool: list[Future] = []  # read speech, reused as background babble
        self.failures = 0
        self._failures_lock = threading.Lock()
        self._speakers = {engine: ThreadPoolExecutor(1, thread_name_prefix=f"audiosift-{engine}") for engine in engines}
        self._embedder = ThreadPoolExecutor(1, thread_name_prefix="audiosift-embed")
        self._pending: deque = deque()

    def voices(self, split: str, count: int) -> list[synth.Voice]:
        """``count`` random voices of the split, shared between the engines in use."""
        out = []
        for i in range(count):
            engine = self.engines[i % len(self.engines)]
            variants = self.variants[split] if engine == "espeak" else None
            out += synth.random_voices(engine, 1, self.rng, variants)
        return out

    def say(self, text: str, voice: synth.Voice) -> Future:
        """``text`` by ``voice``, spoken on its synthesizer's thread (see :meth:`_speak`)."""
        return self._speakers[voice.engine].submit(self._speak, text, voice)

    def _speak(self, text: str, voice: synth.Voice) -> np.ndarray:
        """A synthesizer failing on one text is reported and that clip left out (empty audio), so an
        odd fragment cannot end a run; many failures mean a broken synthesizer."""
        try:
            return synth.synthesize(text, voice)
        except SynthesisError as error:
            with self._failures_lock:
                self.failures += 1
                failures = self.failures
            self.progress(f"skipped a clip: {error}")
            if failures > MAX_SYNTHESIS_FAILURES:
                raise SynthesisError(f"{failures} texts failed to synthesize; the last: {error}") from error
            return np.zeros(0, np.float32)

    def add(self, clip: Clip, split: str) -> None:
        self.later(lambda rng, pool: [clip], split)

    def later(self, make: Callable[[np.random.Generator, tuple], Iterable[Clip]], split: str) -> None:
        """``make(rng, babble)``'s clips, augmented and embedded on the second thread; stored in order."""
        seed = int(self.rng.integers(2**63))
        self._pending.append(self._embedder.submit(self._embed, make, seed, tuple(self.pool), split))
        while len(self._pending) > PENDING_CLIPS:
            self._store(self._pending.popleft().result())

    def _embed(self, make, seed: int, pool: tuple, split: str) -> list[tuple]:
        # The babble pool as it was when submitted (a text a synthesizer failed on left out).
        pool = tuple(audio for audio in (speech.result() for speech in pool) if len(audio))
        records = []
        for clip in make(np.random.default_rng(seed), pool):
            if split == "train":
                records.append((split, clip, *dataset.clip_windows(self.extractor, clip)))
            else:
                # float32, as the detector scores them: the threshold is chosen on these scores.
                records.append((split, clip, self.extractor.frame_scores(clip.audio), None))
        return records

    def _store(self, records: list[tuple]) -> None:
        for split, clip, windows, labels in records:
            if split == "train":
                self.train.add(windows, labels, clip.group)
            else:
                self.heldout.append((windows, clip.span, len(clip.audio) / dataset.RATE, clip.group))
            key = f"{split}_{clip.group}"
            self.counts[key] = self.counts.get(key, 0) + 1

    def finish(self) -> None:
        """Wait for every clip to be stored."""
        while self._pending:
            self._store(self._pending.popleft().result())

    def close(self) -> None:
        for speaker in self._speakers.values():  # first: an embedding waiting on speech then ends
            speaker.shutdown(cancel_futures=True)
        self._embedder.shutdown(cancel_futures=True)

    def speech(self, split: str, minutes: float) -> None:
        voices = self.voices(split, int(minutes * 150 / 12) + 1)  # about one voice per 12-word chunk
        parts = [dataset.speech_chunks(self.texts[split], minutes * (1 - SIMILAR_SHARE), voices, self.rng, self.say)]
        # Hard negatives in running speech: sentences with words spelt like the phrase's words
        # (measured: a first head fired on "contributor", "copied", "covered" for "hey computer").
        # Only the phrase's longer words: "hey" is spelt like "the" and "they", in every sentence.
        long_words = " ".join(word for word in self.phrase.split() if len(word) >= 5) or self.phrase
        similar = synth.sentences_with(self.texts[split], synth.similar_words(long_words, self.vocab))
        if similar:
            parts.append(dataset.speech_chunks(similar, minutes * SIMILAR_SHARE, voices, self.rng, self.say))
        for index, chunk in enumerate(itertools.chain(*parts)):
            if split == "train" and index < BABBLE_CHUNKS:
                self.pool.append(chunk)
            self.later(lambda rng, pool, chunk=chunk: _negatives(chunk.result(), rng, pool, "speech"), split)

    def short_texts(self, split: str, texts: list[str], group: str) -> None:
        voices = self.voices(split, len(texts))
        for text, voice in zip(texts, voices):
            speech = self.say(text, voice)
            self.later(lambda rng, pool, speech=speech: _negatives(speech.result(), rng, pool, group), split)

    def positives(self, split: str, count: int, scrambled: float = 0.0) -> None:
        """``count`` keyword clips; with ``scrambled`` > 0, that many scrambled copies per clip too."""
        for index, voice in enumerate(self.voices(split, count)):
            speech = self.say(self.phrase, voice)
            lead = self.pool[int(self.rng.integers(len(self.pool)))] if self.pool and self.rng.random() < 0.3 else None
            scramble = self.rng.random() < scrambled

            def make(rng, pool, speech=speech, lead=lead, scramble=scramble):
                audio = speech.result()
                if not len(audio):  # a synthesizer failed on it (reported)
                    return []
                return [dataset.positive_clip(audio, rng, pool, lead=lead.result() if lead is not None else None)] + \
                    ([dataset.scrambled_clip(audio, rng, pool)] if scramble else [])
            self.later(make, split)
            if (index + 1) % max(1, count // 4) == 0:
                self.progress(f"{split} positives: {index + 1}/{count}")

    def noise(self, split: str, minutes: float, clip_s: float = 10.0) -> None:
        for _ in range(max(1, int(minutes * 60 / clip_s))):
            self.later(lambda rng, pool: [dataset.noise_clip(clip_s, rng, pool)], split)


def _negatives(audio: np.ndarray, rng: np.random.Generator, pool, group: str) -> list[Clip]:
    """``audio`` as a negative clip, or none when a synthesizer failed on its text (empty audio)."""
    return [dataset.negative_clip(audio, rng, pool, group)] if len(audio) else []


def collect(phrase: str, recipe: Recipe, engines: list[str], rng: np.random.Generator, extractor,
            progress: Progress, examples: list[np.ndarray] = (), negatives: list[np.ndarray] = ()) -> Collected:
    """All training and held-out windows of ``recipe`` for ``phrase`` (the order keeps babble
    available before the positives that use it)."""
    if not engines:
        raise AudiosiftError("no speech synthesizer: " + "; ".join(f"{name}: {how}" for name, how in ENGINES.items()))
    build = Assembler(phrase, recipe, engines, rng, extractor, progress)
    try:
        _assemble(build, phrase, recipe, rng, examples, negatives)
        build.finish()
    finally:
        build.close()
    # The texts left out for synthesis failures, beside the clips made (the manifest keeps both).
    return Collected(build.train, build.heldout, {**build.counts, "skipped_texts": build.failures})


def _assemble(build: Assembler, phrase: str, recipe: Recipe, rng: np.random.Generator, examples, negatives) -> None:
    progress = build.progress
    progress(f"negatives: {recipe.speech_minutes:g} min of read text")
    build.speech("train", recipe.speech_minutes)
    progress(f"negatives: {recipe.near_misses} near-misses, {recipe.snippets} short phrases, "
             f"{recipe.noise_minutes:g} min of noise, tones and music-like sound")
    misses = synth.near_misses(phrase, build.vocab, rng, count=80)
    build.short_texts("train", [misses[i % len(misses)] for i in range(recipe.near_misses)], "near-miss")
    build.short_texts("train", dataset.snippets(build.texts["train"], recipe.snippets, rng), "snippet")
    build.noise("train", recipe.noise_minutes)
    build.positives("train", recipe.positives, scrambled=SCRAMBLED_PER_POSITIVE)
    held_examples = _user_examples(build, examples, recipe)
    _user_negatives(build, negatives)
    progress(f"held out: {recipe.heldout_positives} positives, {recipe.heldout_minutes:g} min of speech and "
             f"{recipe.heldout_minutes / 3:g} min of non-speech")
    build.positives("heldout", recipe.heldout_positives)
    build.speech("heldout", recipe.heldout_minutes)
    build.short_texts("heldout", [misses[i % len(misses)] for i in range(max(4, recipe.near_misses // 5))],
                      "near-miss")
    build.noise("heldout", recipe.heldout_minutes / 3)
    for audio in held_examples:
        padded, span = dataset.keyword_span(audio, pad_s=0.3)
        build.add(Clip(padded, span, "user"), "heldout")


def _user_examples(build: Assembler, examples: list[np.ndarray], recipe: Recipe) -> list[np.ndarray]:
    """Train on the user's recordings (augmented copies); returns those kept for the held-out set:
    a quarter of them once there are four or more."""
    examples = list(examples)
    held = examples[: len(examples) // 4] if len(examples) >= 4 else []
    for audio in examples[len(held):]:
        trimmed, span = dataset.keyword_span(audio)
        speech = trimmed[int(span[0] * dataset.RATE): int(span[1] * dataset.RATE)]
        for _ in range(recipe.example_copies):
            build.later(lambda rng, pool, speech=speech: [dataset.positive_clip(speech, rng, pool, group="user")],
                        "train")
    return held


def _user_negatives(build: Assembler, negatives: list[np.ndarray], clip_s: float = 10.0) -> None:
    """The user's own non-keyword audio, in 10 s clips: four in five to training, one to held-out."""
    step = int(clip_s * dataset.RATE)
    index = 0
    for audio in negatives:
        for start in range(0, len(audio), step):
            piece = audio[start: start + step]
            if len(piece) >= dataset.RATE:
                build.add(Clip(piece, None, "user-negative"), "heldout" if index % 5 == 4 else "train")
                index += 1


def read_audio_folder(folder: str | Path | None, warn: Progress, max_seconds: float = 3600.0) -> list[np.ndarray]:
    """Every audio file under ``folder`` at 16 kHz (each cut at ``max_seconds``); unreadable files
    are reported through ``warn`` and skipped."""
    if folder is None:
        return []
    from audiosift.audio.decode import load_audio
    from audiosift.audio.files import find_audio_files

    path = Path(folder)
    if not path.exists():
        raise UsageError(f"{folder}: no such folder (expected a folder of audio files)")
    out = []
    for file in find_audio_files([str(path)], report=warn):
        try:
            out.append(load_audio(str(file), dataset.RATE, max_seconds=max_seconds, too_long="truncate"))
        except AudiosiftError as error:
            warn(f"skipped {file}: {error}")
    return out
