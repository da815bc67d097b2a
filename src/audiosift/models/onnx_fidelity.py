"""How closely an export follows its source: the numbers ``audiosift export`` prints and stores.

The check clips are synthetic and deterministic (no data set needed at export time): voiced,
speech-like sounds (a pitch-gliding harmonic source shaped by moving formant-like resonances and a
syllable-rate envelope, plus a little noise), of several lengths so that variable-length models
run a padded, masked batch. They show that the graph computes what the source computes; whether
int8 keeps *your* accuracy is for ``audiosift evaluate`` twice and ``audiosift compare``
(docs/deployment.md).

Per export the manifest gets, against the reference (torch fp32 for the fp32 graph, the fp32 graph
for int8): ``max_score_difference`` (largest |difference| of any label's probability),
``logit_cosine`` (the smallest, over clips, cosine between the two logit vectors), ``top1_agreement``
(share of clips with the same best label) and ``clips``. For CLAP the "logits" are the audio
embeddings (``embedding_cosine``), and the scores its zero-shot probabilities over
:data:`CHECK_LABELS` with the default prompt.
"""

from __future__ import annotations

import numpy as np

# Labels the CLAP check scores against: everyday sounds every CLAP tokenizer knows as words.
CHECK_LABELS = ("dog", "rain", "siren", "speech", "music")
CLAP_PROMPT = "This is a sound of {}."
# Check-clip lengths in seconds. Variable-length models get a mixed-length batch (the padded, masked
# path); fixed-window models (AST 1.3 s, Whisper 30 s, CLAP 10 s) pad every clip to their window anyway.
VARIABLE_SECONDS = (1.0, 2.3, 0.7, 1.6)
FIXED_FRACTIONS = (0.75, 0.4, 0.95, 0.6)  # of the model's window


def speech_like(seconds: float, rate: int, seed: int) -> np.ndarray:
    """A deterministic voiced, speech-like clip (see module docstring), peak 0.5."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    f0 = 110 + 60 * np.sin(2 * np.pi * (0.7 + 0.3 * seed) * t) + 20 * seed  # a gliding voice pitch
    phase = 2 * np.pi * np.cumsum(f0) / rate
    formants = (500 + 300 * np.sin(2 * np.pi * 1.5 * t + seed), 1500 + 500 * np.sin(2 * np.pi * 2.1 * t))
    signal = np.zeros_like(t)
    for harmonic in range(1, 30):
        frequency = harmonic * f0
        gain = sum(np.exp(-((frequency - f) / 150.0) ** 2) for f in formants) / harmonic ** 0.5
        signal += gain * np.sin(harmonic * phase)
    syllables = 0.5 * (1 - np.cos(2 * np.pi * (3.0 + seed) * t))  # ~4 syllables a second
    signal = signal * syllables + 0.02 * rng.standard_normal(len(t))
    return (0.5 * signal / max(1e-9, float(np.abs(signal).max()))).astype(np.float32)


def check_waveforms(backend, count: int = 4) -> list[np.ndarray]:
    """``count`` check clips at the backend's rate, of lengths suited to its input (see above)."""
    if backend.window_seconds:
        seconds = [FIXED_FRACTIONS[i % len(FIXED_FRACTIONS)] * backend.window_seconds for i in range(count)]
    else:
        seconds = [VARIABLE_SECONDS[i % len(VARIABLE_SECONDS)] for i in range(count)]
    return [speech_like(s, backend.sampling_rate, seed) for seed, s in enumerate(seconds)]


def classifier_logits(backend, waveforms: list[np.ndarray], run) -> np.ndarray:
    """Logits ``(clips, labels)``: every clip featurized by ``backend``, batched by its collate (the
    variable-length clips as one padded batch), each batch through ``run(batch)``."""
    features = [backend.featurize(w) for w in waveforms]
    out = None
    for positions, batch in backend.collate(features):
        result = np.asarray(run(batch), dtype=np.float32)
        out = np.zeros((len(waveforms), result.shape[1]), np.float32) if out is None else out
        out[positions] = result
    return out


def torch_logits(backend):
    """``run(batch)`` for a torch :class:`~audiosift.models.transformers_backend.TransformersBackend`."""
    import torch

    def run(batch):
        inputs = {key: torch.from_numpy(np.ascontiguousarray(value)) for key, value in batch.items()}
        with torch.inference_mode():
            return backend.model(**inputs).logits.float().numpy()

    return run


def compare_logits(reference: np.ndarray, candidate: np.ndarray, multi_label: bool = False) -> dict:
    """The fidelity numbers (module docstring) of ``candidate`` logits against ``reference`` ones."""
    if multi_label:
        ref_scores, cand_scores = 1 / (1 + np.exp(-reference)), 1 / (1 + np.exp(-candidate))
    else:
        ref_scores, cand_scores = _softmax(reference), _softmax(candidate)
    return {"max_score_difference": float(np.abs(ref_scores - cand_scores).max()),
            "logit_cosine": float(_row_cosines(reference, candidate).min()),
            "top1_agreement": float(np.mean(reference.argmax(1) == candidate.argmax(1))),
            "clips": int(len(reference))}


def compare_clap(reference_embeddings: np.ndarray, candidate_embeddings: np.ndarray, text: np.ndarray,
                 logit_scale: float) -> dict:
    """CLAP's fidelity: audio embedding cosine, and zero-shot scores over the check labels."""
    ref_scores = _softmax(logit_scale * reference_embeddings @ text.T)
    cand_scores = _softmax(logit_scale * candidate_embeddings @ text.T)
    return {"max_score_difference": float(np.abs(ref_scores - cand_scores).max()),
            "embedding_cosine": float(_row_cosines(reference_embeddings, candidate_embeddings).min()),
            "top1_agreement": float(np.mean(ref_scores.argmax(1) == cand_scores.argmax(1))),
            "clips": int(len(reference_embeddings)), "labels": list(CHECK_LABELS)}


def clap_fidelity(reference, candidate, waveforms: list[np.ndarray]) -> dict:
    """Both CLAP backends' audio embeddings of ``waveforms``, scored against the reference's text tower,
    and the text towers' largest embedding difference on the check prompts."""
    prompts = [CLAP_PROMPT.format(label) for label in CHECK_LABELS]
    text = reference.embed_texts(prompts)
    result = compare_clap(reference.embed_clips(waveforms, 4), candidate.embed_clips(waveforms, 4), text,
                          reference.logit_scale)
    result["text_max_difference"] = float(np.abs(candidate.embed_texts(prompts) - text).max())
    return result


def format_fidelity(name: str, numbers: dict) -> str:
    """One line for the console: ``int8 vs float32: max score difference 1.2e-03, ...``."""
    cosine_key = "logit_cosine" if "logit_cosine" in numbers else "embedding_cosine"
    return (f"{name}: max score difference {numbers['max_score_difference']:.2e}, "
            f"{cosine_key.replace('_', ' ')} {numbers[cosine_key]:.6f}, "
            f"top-1 agreement {numbers['top1_agreement']:.0%} ({numbers['clips']} check clips)")


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _row_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return (a * b).sum(1) / np.maximum(np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1), 1e-30)
