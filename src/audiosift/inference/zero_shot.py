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
from typing import Any

import numpy as np

from audiosift.errors import UsageError
from audiosift.inference.classifier import (Classifier, ItemResult, LabelSet, check_labels, decoded_chunks,
                                            is_single_input)
from audiosift.inference.options import RuntimeOptions
from audiosift.inference.text_cache import TEXT_CACHE_ENV, TextEmbeddingCache
from audiosift.models.clap import ClapBackend, normalize_rows

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
        raise UsageError("hypothesis_template: expected a template such as 'This is a sound of {}.', got an empty list")
    for template in templates:
        if not isinstance(template, str) or "{}" not in template:
            raise UsageError(
                f"hypothesis_template {template!r} has no '{{}}' where the label goes: expected e.g. "
                f"'This is a sound of {{}}.' or one of the named sets {', '.join(NAMED_TEMPLATE_SETS)}")
        try:
            template.format("label")
        except (IndexError, KeyError, ValueError) as error:
            raise UsageError(f"hypothesis_template {template!r} is not a valid format string "
                             f"(write literal braces as '{{{{' and '}}}}'): {error}") from error
    return templates


class ZeroShotClassifier(Classifier):
    """Score clips against candidate labels with a CLAP model (see ``audiosift.load``).

    The same protocol as every classifier; labels come from the caller, through prompts.
    """

    default_top_k = None  # every candidate label, as the zero-shot pipeline returns them

    def __init__(self, backend: ClapBackend, options: RuntimeOptions, name: str,
                 text_cache_dir: str | os.PathLike | None = None):
        super().__init__(backend, options, name)
        self.text_cache = TextEmbeddingCache(backend, text_cache_dir or os.environ.get(TEXT_CACHE_ENV) or None)

    @property
    def towers(self) -> ClapBackend:
        return self.backend

    @property
    def embedding_size(self) -> int:
        return self.backend.embedding_size

    def describe(self) -> dict:
        return {**super().describe(), "default_template": DEFAULT_TEMPLATE}

    def use_text_cache(self, folder: str | os.PathLike) -> None:
        """Keep prompt embeddings in ``folder`` across runs (keyed by the model's fingerprint)."""
        self.text_cache.use_folder(folder)

    def label_set(self, candidate_labels: str | Sequence[str] | None = None,
                  hypothesis_template: str | Sequence[str] | None = None) -> LabelSet:
        if candidate_labels is None:
            raise UsageError(f"{self.name!r} is a zero-shot model: it needs the labels to score "
                             f"(candidate_labels=[...]; on the command line --labels)")
        return LabelSet(tuple(check_labels(candidate_labels)), templates=resolve_templates(hypothesis_template))

    def prepare_labels(self, label_set: LabelSet) -> None:
        self.label_embeddings(label_set.names, label_set.templates)

    def scores_from_outputs(self, outputs: np.ndarray, label_set: LabelSet) -> np.ndarray:
        text = self.label_embeddings(label_set.names, label_set.templates)
        return softmax_scores(outputs, text, self.backend.logit_scale)

    def label_embeddings(self, labels: Sequence[str], templates: Sequence[str] | str | None = None) -> np.ndarray:
        """Unit-length ``(len(labels), d)``: each label's prompts averaged over the templates."""
        templates = resolve_templates(templates)
        prompts = [template.format(label) for template in templates for label in labels]
        per_prompt = self.text_cache.embeddings(prompts).reshape(len(templates), len(labels), -1)
        if len(templates) == 1:
            return per_prompt[0]  # exactly the pipeline's text embedding
        return normalize_rows(per_prompt.mean(axis=0))

    def embed_audio(self, clips: Any, *, sampling_rate: int | None = None, batch_size: int | None = None) -> np.ndarray:
        """L2-normalised audio embeddings: ``(d,)`` for one clip, ``(n, d)`` for a list."""
        items = [clips] if is_single_input(clips) else list(clips)
        waveforms = [self.prepare(clip, sampling_rate) for clip in items]
        if not waveforms:
            return np.zeros((0, self.embedding_size), dtype=np.float32)
        embeddings = self.outputs(waveforms, batch_size)
        return embeddings[0] if is_single_input(clips) else embeddings

    def embed_text(self, texts: str | Sequence[str], *, hypothesis_template: str | Sequence[str] = "{}") -> np.ndarray:
        """L2-normalised text embeddings: ``(d,)`` for one string, ``(n, d)`` for a list.

        Texts are encoded as given unless a template (or template list / named set) is passed.
        """
        items = [texts] if isinstance(texts, str) else list(texts)
        embeddings = self.label_embeddings(items, hypothesis_template) if items else \
            np.zeros((0, self.embedding_size), dtype=np.float32)
        return embeddings[0] if isinstance(texts, str) else embeddings

    def embed_many(self, inputs: Iterable[Any], *, sampling_rate: int | None = None,
                   batch_size: int | None = None) -> Iterator[ItemResult]:
        """One :class:`ItemResult` per input, in order, with ``embedding`` set; bad inputs carry ``error``."""
        size = batch_size or self.options.batch_size
        for pending, waveforms in decoded_chunks(self, inputs, sampling_rate, size):
            positions = list(waveforms)
            vectors = dict(zip(positions, self.outputs([waveforms[p] for p in positions], size))) if positions else {}
            for item in pending:
                item.embedding = vectors.get(item.index)
                yield item


EmbeddingResult = ItemResult  # embed_many's results: ItemResult with ``embedding`` set


def softmax_scores(audio: np.ndarray, text: np.ndarray, logit_scale: float) -> np.ndarray:
    """``softmax(logit_scale * audio @ text.T)`` over labels, as CLAP's ``logits_per_audio``."""
    logits = (audio @ text.T).astype(np.float64) * logit_scale
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


def load_zero_shot(location: str, *, name: str, model_id: str, options: RuntimeOptions,
                   text_cache_dir: str | os.PathLike | None = None) -> ZeroShotClassifier:
    """A :class:`ZeroShotClassifier` for the CLAP model saved in ``location``.

    Text embeddings persist in ``text_cache_dir`` (default: the ``AUDIOSIFT_TEXT_CACHE`` environment
    variable; unset means memory only).
    """
    backend = ClapBackend(location, model_id, options.torch_device(), options.torch_dtype())
    return ZeroShotClassifier(backend, options, name, text_cache_dir)
