"""Zero-shot classification with CLAP: score clips against any labels the user types.

``zs(audio, candidate_labels=[...])`` gives the same scores as
``transformers.pipeline("zero-shot-audio-classification")`` for a clip of up to 10 s at 48 kHz:
``softmax(exp(logit_scale_a) * cos(audio embedding, prompt embedding))`` over the labels. It also:
- decodes any input the core classifier takes and resamples it to 48 kHz (the pipeline assumes 48 kHz);
- encodes each prompt once (:mod:`audiosift.inference.text_cache`), so many clips cost only the audio tower;
- takes a list of templates (a prompt ensemble): a label's embedding is the mean of its prompts'
  unit-length embeddings, re-normalised;
- scores clips longer than 10 s deterministically from the mean of their windows' embeddings
  (:func:`audiosift.models.clap.window_starts`), instead of the pipeline's random crop.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from audiosift.audio import load_audio
from audiosift.inference.classifier import ItemResult, decoded_chunks, is_single_input
from audiosift.inference.engine import top_k_predictions
from audiosift.inference.options import LoadOptions, check_top_k
from audiosift.inference.text_cache import TEXT_CACHE_ENV, TextEmbeddingCache
from audiosift.models.clap import ClapTowers, normalize_rows

# The pipeline's default template, and the one LAION-CLAP's zero-shot ESC-50 numbers were measured with.
DEFAULT_TEMPLATE = "This is a sound of {}."
# A prompt ensemble for environmental sounds (see docs/zero-shot.md): the default sentence plus
# paraphrases in the styles of audio captions (AudioCaps/Clotho: "the sound of ...", "... can be
# heard"), so a label's embedding depends less on one phrasing. Each prompt is encoded once (cached).
SOUND_TEMPLATES = (
    "This is a sound of {}.",
    "The sound of {}.",
    "A recording of {}.",
    "An audio clip of {}.",
    "The sound of {} can be heard.",
    "Someone recorded the sound of {}.",
    "A loud sound of {}.",
    "A quiet sound of {}.",
)
NAMED_TEMPLATE_SETS = {"default": (DEFAULT_TEMPLATE,), "ensemble": SOUND_TEMPLATES}


def resolve_templates(hypothesis_template: str | Sequence[str] | None) -> tuple[str, ...]:
    """One template, a list of them, or a named set ("default", "ensemble") -> checked templates."""
    if hypothesis_template is None:
        return (DEFAULT_TEMPLATE,)
    if isinstance(hypothesis_template, str):
        if hypothesis_template in NAMED_TEMPLATE_SETS:
            return NAMED_TEMPLATE_SETS[hypothesis_template]
        hypothesis_template = [hypothesis_template]
    templates = tuple(hypothesis_template)
    if not templates:
        raise ValueError("hypothesis_template: expected a template such as 'This is a sound of {}.', got an empty list")
    for template in templates:
        if not isinstance(template, str) or "{}" not in template:
            raise ValueError(
                f"hypothesis_template {template!r} has no '{{}}' where the label goes: expected e.g. "
                f"'This is a sound of {{}}.' or one of the named sets {', '.join(NAMED_TEMPLATE_SETS)}")
        try:
            template.format("label")
        except (IndexError, KeyError, ValueError) as error:
            raise ValueError(f"hypothesis_template {template!r} is not a valid format string "
                             f"(write literal braces as '{{{{' and '}}}}'): {error}") from error
    return templates


def check_labels(candidate_labels: str | Sequence[str] | None) -> list[str]:
    """A non-empty list of distinct labels; a string is split on commas ("dog, vacuum cleaner")."""
    if candidate_labels is None:
        raise ValueError("candidate_labels is required: the labels to score, e.g. ['dog', 'vacuum cleaner']")
    if isinstance(candidate_labels, str):
        candidate_labels = candidate_labels.split(",")
    labels = [label.strip() if isinstance(label, str) else label for label in candidate_labels]
    if not labels or any(not isinstance(label, str) or not label for label in labels):
        raise ValueError(f"candidate_labels must be non-empty strings, got {list(candidate_labels)!r}")
    duplicates = sorted({label for label in labels if labels.count(label) > 1})
    if duplicates:
        raise ValueError(f"candidate_labels has duplicates ({', '.join(duplicates)}): each label is scored once")
    return labels


@dataclass
class EmbeddingResult:
    """One input's audio embedding in a batch job, or the error that stopped it."""

    index: int
    source: Any
    embedding: np.ndarray | None = None
    error: str | None = None
    duration_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class ZeroShotClassifier:
    """Score clips against candidate labels with a CLAP model (see ``audiosift.load``)."""

    def __init__(self, towers: ClapTowers, options: LoadOptions, name: str,
                 text_cache_dir: str | os.PathLike | None = None):
        self.towers = towers
        self.options = options
        self.name = name
        self.text_cache = TextEmbeddingCache(towers, text_cache_dir)

    @property
    def sampling_rate(self) -> int:
        return self.towers.sampling_rate

    @property
    def model_id(self) -> str:
        return self.towers.model_id

    @property
    def window_seconds(self) -> float:
        return self.towers.window_seconds

    @property
    def embedding_size(self) -> int:
        return self.towers.embedding_size

    def __repr__(self) -> str:
        return f"ZeroShotClassifier(model_id={self.model_id!r}, sampling_rate={self.sampling_rate})"

    def use_text_cache(self, folder: str | os.PathLike) -> None:
        """Keep prompt embeddings in ``folder`` across runs (keyed by the model's fingerprint)."""
        self.text_cache.use_folder(folder)

    def describe(self) -> dict:
        return {"model_id": self.model_id, "sampling_rate": self.sampling_rate, "labels": None,
                "zero_shot": True, "window_seconds": self.window_seconds, "default_template": DEFAULT_TEMPLATE}

    def __call__(self, audio: Any, *, candidate_labels: str | Sequence[str] | None = None,
                 hypothesis_template: str | Sequence[str] | None = None, top_k: int | None = None,
                 sampling_rate: int | None = None, batch_size: int | None = None):
        """Predictions (all labels unless ``top_k``) for one clip, or a list of them for a list of clips."""
        check_top_k(top_k)
        labels = check_labels(candidate_labels)
        templates = resolve_templates(hypothesis_template)
        clips = [audio] if is_single_input(audio) else list(audio)
        waveforms = [self.prepare(clip, sampling_rate) for clip in clips]
        scores = self.scores(waveforms, labels, templates, batch_size)
        predictions = [top_k_predictions(row, labels, top_k) for row in scores]
        return predictions[0] if is_single_input(audio) else predictions

    def prepare(self, audio: Any, sampling_rate: int | None = None) -> np.ndarray:
        """Decode one input to mono float32 at 48 kHz (any source rate; checked by ``load_audio``)."""
        return load_audio(audio, self.sampling_rate, sampling_rate)

    def label_embeddings(self, labels: Sequence[str], templates: Sequence[str] | str | None = None) -> np.ndarray:
        """Unit-length ``(len(labels), d)``: each label's prompts averaged over the templates."""
        templates = resolve_templates(templates)
        prompts = [template.format(label) for template in templates for label in labels]
        per_prompt = self.text_cache.embeddings(prompts).reshape(len(templates), len(labels), -1)
        if len(templates) == 1:
            return per_prompt[0]  # exactly the pipeline's text embedding
        return normalize_rows(per_prompt.mean(axis=0))

    def scores(self, waveforms: Sequence[np.ndarray], labels: Sequence[str],
               templates: Sequence[str] | str | None = None, batch_size: int | None = None) -> np.ndarray:
        """Softmax scores ``(n, len(labels))`` of prepared (48 kHz) waveforms, in input order."""
        labels = check_labels(labels)
        text = self.label_embeddings(labels, templates)
        if len(waveforms) == 0:
            return np.zeros((0, len(labels)), dtype=np.float32)
        audio = self.towers.embed_clips(list(waveforms), batch_size or self.options.batch_size)
        return softmax_scores(audio, text, self.towers.logit_scale)

    def embed_audio(self, clips: Any, *, sampling_rate: int | None = None, batch_size: int | None = None) -> np.ndarray:
        """L2-normalised audio embeddings: ``(d,)`` for one clip, ``(n, d)`` for a list."""
        items = [clips] if is_single_input(clips) else list(clips)
        waveforms = [self.prepare(clip, sampling_rate) for clip in items]
        if not waveforms:
            return np.zeros((0, self.embedding_size), dtype=np.float32)
        embeddings = self.towers.embed_clips(waveforms, batch_size or self.options.batch_size)
        return embeddings[0] if is_single_input(clips) else embeddings

    def embed_text(self, texts: str | Sequence[str], *, hypothesis_template: str | Sequence[str] = "{}") -> np.ndarray:
        """L2-normalised text embeddings: ``(d,)`` for one string, ``(n, d)`` for a list.

        Texts are encoded as given unless a template (or template list / named set) is passed.
        """
        items = [texts] if isinstance(texts, str) else list(texts)
        embeddings = self.label_embeddings(items, hypothesis_template) if items else \
            np.zeros((0, self.embedding_size), dtype=np.float32)
        return embeddings[0] if isinstance(texts, str) else embeddings

    def classify_many(self, inputs: Iterable[Any], *, candidate_labels: str | Sequence[str] | None = None,
                      hypothesis_template: str | Sequence[str] | None = None, top_k: int | None = None,
                      sampling_rate: int | None = None, batch_size: int | None = None) -> Iterator[ItemResult]:
        """One :class:`ItemResult` per input, in order; a bad input carries ``error`` and never stops the others."""
        check_top_k(top_k)
        labels = check_labels(candidate_labels)
        templates = resolve_templates(hypothesis_template)
        text = self.label_embeddings(labels, templates)  # once for the whole job
        size = batch_size or self.options.batch_size
        for pending, waveforms in decoded_chunks(self, inputs, sampling_rate, size):
            positions = list(waveforms)
            rows = {}
            if positions:
                audio = self.towers.embed_clips([waveforms[p] for p in positions], size)
                rows = dict(zip(positions, softmax_scores(audio, text, self.towers.logit_scale)))
            for result in pending:
                if result.index in rows:
                    result.predictions = top_k_predictions(rows[result.index], labels, top_k)
                yield result

    def embed_many(self, inputs: Iterable[Any], *, sampling_rate: int | None = None,
                   batch_size: int | None = None) -> Iterator[EmbeddingResult]:
        """One :class:`EmbeddingResult` per input, in order; bad inputs carry ``error``."""
        size = batch_size or self.options.batch_size
        for pending, waveforms in decoded_chunks(self, inputs, sampling_rate, size):
            positions = list(waveforms)
            vectors = {}
            if positions:
                vectors = dict(zip(positions, self.towers.embed_clips([waveforms[p] for p in positions], size)))
            for item in pending:
                yield EmbeddingResult(item.index, item.source, vectors.get(item.index), item.error, item.duration_s)


def softmax_scores(audio: np.ndarray, text: np.ndarray, logit_scale: float) -> np.ndarray:
    """``softmax(logit_scale * audio @ text.T)`` over labels, as CLAP's ``logits_per_audio``."""
    logits = (audio @ text.T).astype(np.float64) * logit_scale
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def load_zero_shot(location: str, *, name: str, model_id: str, options: LoadOptions,
                   text_cache_dir: str | os.PathLike | None = None) -> ZeroShotClassifier:
    """A :class:`ZeroShotClassifier` for the CLAP model saved in ``location``.

    Text embeddings persist in ``text_cache_dir`` (default: the ``AUDIOSIFT_TEXT_CACHE`` environment
    variable; unset means memory only).
    """
    towers = ClapTowers(location, model_id, options.torch_device(), options.torch_dtype())
    return ZeroShotClassifier(towers, options, name, text_cache_dir or os.environ.get(TEXT_CACHE_ENV) or None)
