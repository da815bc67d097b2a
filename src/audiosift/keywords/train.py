"""Train a custom keyword detector from its text: ``train_keyword("hey computer", "models/hey")``.

The recipe (docs/wake-words.md has the measured results):
1. data (:mod:`audiosift.keywords.recipe`): the phrase spoken by random synthesizer voices,
   augmented (speed, timbre, room, noise / music / tones / babble at 0-30 dB SNR, level), against read text,
   near-misses, short phrases and non-speech, all as openWakeWord front-end windows;
2. small MLP heads (torch to train, numpy to run; ``recipe.heads`` of them from different seeds,
   two at a time on two cores, their probabilities averaged) on balanced batches, two rounds: the
   second oversamples the negatives the first round scored highest (hard-negative mining);
3. the threshold from held-out voices and text (:func:`audiosift.keywords.evaluate.pick_threshold`)
   on the scores the detector gives: the heads' mean, averaged over ``recipe.smoothing_frames``;
4. a folder ``keyword.json`` + ``head.npz`` that ``audiosift.load`` reads as a detector.
"""

from __future__ import annotations

import importlib.util
import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from audiosift.errors import OutputError, UnsupportedModelError
from audiosift.keywords import evaluate, synth
from audiosift.keywords.engines import ENGINES
from audiosift.keywords.recipe import Collected, Progress, collect, read_audio_folder, recipe_named
from audiosift.models.wakeword import keyword as keyword_model

POSITIVES_PER_BATCH = 128
NEGATIVES_PER_BATCH = 384  # 3:1, so negatives dominate the loss as they dominate real audio
HARD_FRACTION = 0.02  # the top 2% scoring negatives after round one are oversampled in round two
HARD_SHARE = 0.5  # of each round-two negative batch
GROUP_WEIGHT = {"near-miss": 3.0, "scrambled": 2.0, "snippet": 2.0, "user-negative": 3.0}  # sampling weight of a negative
# Regularisation, chosen on held-out espeak voices and flite (bench): dropout 0.5 and input noise
# 0.5 on a (256, 128) head gave fewer false accepts than 0.2 / 0.1 at the same recall.
DROPOUT = 0.5
WEIGHT_DECAY = 1e-2
INPUT_NOISE = 0.5  # Gaussian noise on the standardised inputs: a smoother decision surface


@dataclass
class TrainResult:
    folder: Path
    manifest: dict


def train_keyword(phrase: str, output: str | Path, *, examples: str | Path | None = None,
                  negatives: str | Path | None = None, budget: str = "standard", engines: list[str] | None = None,
                  frontend: str = "tflite", max_fa_per_hour: float = 1.0, seed: int = 0,
                  progress: Progress | None = None) -> TrainResult:
    """Train ``phrase`` and write its detector folder to ``output`` (see module docstring).
    ``engines`` limits the synthesizers (default: every installed one)."""
    started = time.perf_counter()
    progress = progress or (lambda message: None)
    if importlib.util.find_spec("torch") is None:  # the head trains on torch: say so before minutes of data
        raise UnsupportedModelError("train-keyword trains its head with torch, which is not installed: "
                                    "pip install 'audiosift[torch]' (the trained keyword then runs without it)")
    phrase = synth.check_phrase(phrase)
    folder = _check_output(output)
    recipe = recipe_named(budget)
    engines = _engines(engines)
    rng = np.random.default_rng(seed)
    synth.reseed(seed)
    user_pos = read_audio_folder(examples, progress, max_seconds=30.0)
    user_neg = read_audio_folder(negatives, progress)
    progress(f"training {phrase!r} ({recipe.name} budget; voices: {', '.join(engines)}; "
             f"{len(user_pos)} recording(s) of yours, {len(user_neg)} negative file(s))")
    extractor = keyword_model.window_extractor(frontend)
    data = collect(phrase, recipe, engines, rng, extractor, progress, user_pos, user_neg)
    x, y, groups = data.train.arrays()
    progress(f"head: {int((y == 1).sum())} positive and {int((y == 0).sum())} negative windows, "
             f"{recipe.steps} steps ({time.perf_counter() - started:.0f} s so far)")
    head = keyword_model.MeanHead(_single_threaded(fit_heads, x, y, groups, recipe, seed, progress))
    initial = extractor.initial_history()  # the window before a stream's first frame
    heldout, threshold = choose_threshold(
        lambda windows: keyword_model.clip_scores(head, windows, recipe.smoothing_frames, initial), data, max_fa_per_hour)
    manifest = _manifest(phrase, frontend, head, threshold, heldout, recipe, engines, seed, max_fa_per_hour,
                         data, time.perf_counter() - started)
    _write(folder, head, manifest)
    if not heldout["target_met"]:
        progress(f"warning: no threshold kept held-out false accepts within {max_fa_per_hour:g}/h; the highest "
                 f"tried is used: more --negatives, --examples or a longer phrase may help")
    progress(f"held out: recall {heldout['recall']:.1%} ({heldout['found']}/{heldout['occurrences']}), "
             f"{heldout['false_accepts']} false accept(s) in {heldout['hours']:.2f} h "
             f"({heldout['false_accepts_per_hour']:.2f} per hour) at threshold {threshold:.7g}")
    if heldout.get("near_misses"):
        progress(f"near-misses (parts of the phrase, similar words): {heldout['near_misses_fired']} of "
                 f"{heldout['near_misses']} held-out clips fire at that threshold")
    return TrainResult(folder, manifest)


def _engines(requested: list[str] | None) -> list[str]:
    from audiosift.errors import UsageError

    installed = synth.engines_available()
    if requested is None:
        return installed
    unknown = [name for name in requested if name not in ENGINES]
    if unknown:
        raise UsageError(f"unknown synthesizer(s) {', '.join(unknown)}: expected some of {', '.join(ENGINES)}")
    missing = [name for name in requested if name not in installed]
    if missing:
        raise UsageError("not installed: " + "; ".join(f"{name} ({ENGINES[name]})" for name in missing))
    return list(dict.fromkeys(requested))


def fit_heads(x: np.ndarray, y: np.ndarray, groups: np.ndarray, recipe, seed: int, progress: Progress) -> list:
    """Train ``recipe.heads`` MLPs from seeds spawned from ``seed``, two at a time (one per core:
    torch releases the GIL inside its kernels). Each draws from its own generators, so a seed gives
    the same heads whichever finishes first."""
    import torch

    from audiosift.errors import AudiosiftError

    if not (y == 1).any() or not (y == 0).any():
        raise AudiosiftError("training needs keyword and non-keyword windows: no speech came out of the synthesizers")
    from audiosift.keywords.torch_mlp import DropoutMlp

    as_float = x.astype(np.float32)  # one copy for both statistics
    mean, std = as_float.mean(axis=0), as_float.std(axis=0) + 1e-3
    del as_float
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    weights = np.asarray([GROUP_WEIGHT.get(g, 1.0) for g in groups[neg]])
    # What every head draws its batches from: the negatives' cumulative sampling probability, made
    # once (rng.choice(p=...) made it again at every draw: 1.6 ms of a 25 ms step, same draws).
    cdf = np.cumsum(weights / weights.sum())
    cdf /= cdf[-1]
    batches = (pos, neg, cdf)
    # One seed per head spawned from ``seed`` (so seeds 1 and 2 share no head); the models are
    # built here, one after another, as building draws from torch's global generator.
    seeds = [int(child.generate_state(1)[0]) for child in np.random.SeedSequence(seed).spawn(recipe.heads)]
    models = [DropoutMlp([x.shape[1], *recipe.hidden, 1], head_seed, DROPOUT) for head_seed in seeds]
    jobs = [(index, model, np.random.default_rng(head_seed)) for index, (model, head_seed) in enumerate(zip(models, seeds))]
    # One torch thread in each worker (intra-op settings are per thread in OpenMP and MKL).
    with ThreadPoolExecutor(min(2, len(jobs)), thread_name_prefix="audiosift-head",
                            initializer=torch.set_num_threads, initargs=(1,)) as pool:
        return list(pool.map(lambda job: fit_head(x, y, batches, recipe, *job, mean, std, progress), jobs))


def fit_head(x: np.ndarray, y: np.ndarray, batches: tuple, recipe, index: int, model,
             rng: np.random.Generator, mean: np.ndarray, std: np.ndarray, progress: Progress):
    """Train head ``index`` (a :class:`~audiosift.keywords.torch_mlp.DropoutMlp`, batches drawn by
    ``rng`` from ``batches``: positive rows, negative rows and the negatives' cumulative sampling
    probability); returns a numpy :class:`MlpHead` with the input standardisation folded into its first layer."""
    import torch

    pos, neg, neg_cdf = batches
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=WEIGHT_DECAY)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=2e-3, total_steps=recipe.steps)
    hard = None
    for step in range(recipe.steps):
        if step == recipe.steps // 2:
            hard = _hardest(model, x, neg, mean, std)
        batch = np.concatenate([rng.choice(pos, POSITIVES_PER_BATCH), _negative_batch(rng, neg, neg_cdf, hard)])
        inputs = torch.from_numpy((x[batch].astype(np.float32) - mean) / std)
        inputs = inputs + INPUT_NOISE * model.noise(inputs)
        targets = torch.from_numpy((y[batch] == 1).astype(np.float32))
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(inputs, train=True).squeeze(1), targets)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if (step + 1) % max(1, recipe.steps // 4) == 0:
            progress(f"head {index + 1}/{recipe.heads}: step {step + 1}/{recipe.steps}, loss {loss.item():.4f}")
    return _to_numpy(model, mean, std)


def _single_threaded(function, *args):
    """Run with one torch thread, the caller's setting restored after (the head workers set theirs
    too): small batches on a shared 2-core CPU ran 12x slower on two threads (measured 48 ms
    against 3.9 ms a step), so two heads train at once instead."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return function(*args)
    finally:
        torch.set_num_threads(before)


def _negative_batch(rng, neg, neg_cdf, hard):
    if hard is None or len(hard) == 0:
        return _weighted(rng, neg, neg_cdf, NEGATIVES_PER_BATCH)
    count = int(NEGATIVES_PER_BATCH * HARD_SHARE)
    return np.concatenate([rng.choice(hard, count), _weighted(rng, neg, neg_cdf, NEGATIVES_PER_BATCH - count)])


def _weighted(rng, items, cdf, count: int) -> np.ndarray:
    """``rng.choice(items, count, p=p)`` from p's normalised cumulative sum ``cdf``: the same
    draws numpy makes (it searches its own cdf for uniform numbers), without rebuilding it."""
    return items[cdf.searchsorted(rng.random(count), side="right")]


def _hardest(model, x, neg, mean, std) -> np.ndarray:
    """The negatives the model scores highest now (the top HARD_FRACTION of them)."""
    import torch

    logits = []
    with torch.no_grad():
        for start in range(0, len(neg), 8192):
            part = neg[start: start + 8192]
            logits.append(model(torch.from_numpy((x[part].astype(np.float32) - mean) / std)).squeeze(1).numpy())
    scores = np.concatenate(logits)
    count = max(1, int(len(neg) * HARD_FRACTION))
    return neg[np.argsort(scores)[-count:]]


def _to_numpy(model, mean: np.ndarray, std: np.ndarray):
    """``(x - mean) / std`` then W0: the same as x @ (W0 / std) + (b0 - (mean / std) @ W0)."""
    linears = model.linears
    arrays = {}
    for index, layer in enumerate(linears):
        weight = layer.weight.detach().numpy().T.astype(np.float32)
        bias = layer.bias.detach().numpy().astype(np.float32)
        if index == 0:
            bias = bias - (mean / std) @ weight
            weight = weight / std[:, None]
        arrays[f"w{index}"], arrays[f"b{index}"] = weight.astype(np.float32), bias.astype(np.float32)
    return keyword_model.MlpHead(arrays)


def heldout_recordings(score_clip, data: Collected) -> dict[str, list[evaluate.ScoredRecording]]:
    """The held-out clips by group, scored by ``score_clip`` (a clip's windows -> its frame scores,
    as the detector streams them) with the first frames at 0."""
    out: dict[str, list[evaluate.ScoredRecording]] = {}
    for index, (windows, span, seconds, group) in enumerate(data.heldout):
        scores = np.asarray(score_clip(windows), np.float64).reshape(-1)
        scores[: keyword_model.KeywordBackend.startup_frames] = 0.0
        times = (np.arange(len(scores)) + 1) * 0.08
        recording = evaluate.ScoredRecording(f"{group}-{index}", seconds, times, scores, [span] if span else [])
        out.setdefault(group, []).append(recording)
    return out


def choose_threshold(score_clip, data: Collected, max_fa_per_hour: float) -> tuple[dict, float]:
    """The threshold from held-out audio of the kinds met in an hour of listening (running speech,
    noise, the keyword): near-miss clips ("computer" alone for "hey computer") are a minute of pure
    confusers, where one false accept would count as several per hour of audio and pin the threshold
    to its top (measured: chosen 0.999999, 62% recall on held-out flite, where 0.99937 found 89% at
    <= 1 false accept/h). How many near-misses fire at the chosen threshold is reported beside it."""
    scored = heldout_recordings(score_clip, data)  # every clip once
    misses, users = scored.get("near-miss", []), scored.get("user", [])
    curve = evaluate.det_curve([clip for group, clips in scored.items() if group != "near-miss" for clip in clips])
    point = evaluate.pick_threshold(curve, max_fa_per_hour)
    if misses:
        fired = sum(1 for clip in misses if evaluate.metrics_at([clip], point["threshold"])["false_accepts"])
        point = {**point, "near_misses_fired": fired, "near_misses": len(misses)}
    if users:
        point = {**point, "user_recall": evaluate.metrics_at(users, point["threshold"])["recall"]}
    return point, float(point["threshold"])


def _manifest(phrase, frontend, head, threshold, heldout, recipe, engines, seed, max_fa, data, seconds) -> dict:
    from audiosift import __version__

    return {
        "format": keyword_model.FORMAT, "phrase": phrase, "label": phrase.lower(), "threshold": threshold,
        "frontend": frontend, "smoothing_frames": recipe.smoothing_frames,
        "head": {"type": "mean of mlps", "count": len(head.heads),
                 "sizes": [int(head.heads[0].layers[0][0].shape[0])] + [int(w.shape[1]) for w, _ in head.heads[0].layers]},
        "recipe": {**recipe.as_dict(), "engines": engines, "seed": seed, "max_false_accepts_per_hour": max_fa,
                   "clips": data.counts},
        "heldout": heldout, "training_seconds": round(seconds, 1), "audiosift": __version__,
        "trained_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "licence": keyword_model.KeywordBackend.licence,
    }


def _check_output(output: str | Path) -> Path:
    folder = Path(output)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"--output {output} is a file; give a folder for the keyword model")
    if folder.is_dir() and any(folder.iterdir()) and not keyword_model.is_keyword_folder(folder):
        raise OutputError(f"--output {output} is a folder that already holds other files; give a new or empty "
                          f"folder (or an earlier keyword's, to replace it)")
    if not folder.parent.is_dir():
        raise OutputError(f"the folder above --output {output} does not exist: {folder.parent}")
    return folder


def _write(folder: Path, head, manifest: dict) -> None:
    folder.mkdir(exist_ok=True)
    np.savez(folder / keyword_model.WEIGHTS, **head.arrays())
    (folder / keyword_model.MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
