"""A custom keyword trained without flite (espeak-ng, and Piper's neural voice where installed),
measured on flite's voices, next to the pre-trained wake words on the same audio.

1. ``train_keyword(PHRASE, engines=every installed one but flite)`` (the standard budget unless --budget): training
   time and the load average are printed.
2. Held-out test audio, none of it seen in training: flite voices (kal16, awb, rms, slt at random
   stretch and pitch) reading licence texts that training never reads (``synth.BENCH_TEXTS``), some
   of it over music or noise at 10-20 dB SNR, plus noise, tones and music-like sound alone:
   --hours of it (default 1). Each phrase (the custom keyword, "alexa", "hey jarvis") is then
   spoken --positives times by flite voices, clean or over noise/music at 20 or 10 dB, in clips of
   its own (2-3 s of audio before it, 1 s after).
3. Every detector runs over all of it (each recording its own stream); recall and false accepts per
   hour at the model's own threshold, the best recall at <= 1 false accept/h, and a DET plot each.
4. For the custom keyword at its threshold: recall per flite voice, and each false accept with its
   voice and the sentence that fired (each sentence of that recording rescored alone).

Run: .venv/bin/python bench/bench_train_keyword.py [--phrase "hey computer"] [--hours 1]
     [--positives 120] [--budget standard] [--model DIR (skip training)] [--output DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from audiosift.keywords import augment, dataset, evaluate, synth  # noqa: E402

RATE = 16000


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def negative_pieces(hours: float, rng: np.random.Generator):
    """~``hours`` of held-out audio in ~1 minute pieces: 4/5 flite speech (a quarter of it over
    background at 10-20 dB), 1/5 noise, tones and music-like sound alone. Yields ``(name, audio,
    (voice, sentences) or None)``."""
    texts = synth.sentences(bench=True)
    target = hours * 3600
    made = 0.0
    index = 0
    while made < target:
        if index % 5 == 4:
            piece = augment.background(60 * RATE, rng) * 10 ** (rng.uniform(-40, -10) / 20)
            kind, spoken = "non-speech", None
        else:
            voices = synth.random_voices("flite", 1, rng)
            start = int(rng.integers(len(texts)))
            spoken = (voices[0], texts[start: start + 8])
            piece = synth.synthesize(" ".join(spoken[1]), voices[0])
            if rng.random() < 0.25:
                piece = augment.mix(piece, augment.background(len(piece), rng), rng.uniform(10, 20))
            piece = augment.gain(piece, rng, -20, -1)
            kind = "speech"
        made += len(piece) / RATE
        index += 1
        yield f"{kind}-{index}", piece.astype(np.float32), spoken


def positive_clips(text: str, count: int, rng: np.random.Generator):
    """``text`` by random flite voices: clean, or over background at 20 or 10 dB; 2-3 s of audio
    before it (so the detector has a full window of real audio, as mid-stream) and 1 s after.
    Yields ``(name, audio, span, voice)``."""
    for index in range(count):
        voice = synth.random_voices("flite", 1, rng)[0]
        speech = synth.synthesize(text, voice)
        lead = rng.uniform(2.0, 3.0)
        audio = np.concatenate([np.zeros(int(lead * RATE), np.float32), speech, np.zeros(RATE, np.float32)])
        snr = [None, 20.0, 10.0][index % 3]
        if snr is not None:
            audio = augment.mix(audio, augment.background(len(audio), rng), snr)
        audio = augment.gain(audio + augment.coloured_noise(len(audio), rng) * 1e-4, rng, -20, -1)
        yield f"{text}-{index}", audio.astype(np.float32), (lead, lead + len(speech) / RATE), voice


def detectors(model_folder: Path, phrase: str):
    """``[(name, backend, label, phrase spoken)]``: the custom keyword and the pre-trained words."""
    import audiosift

    keyword = audiosift.load(str(model_folder)).backend
    oww = audiosift.load("wake-word").backend
    mww = audiosift.load("wake-word-micro").backend
    return [(f"custom ({model_folder.name})", keyword, keyword.labels[0], phrase),
            ("openWakeWord", oww, "alexa", "alexa"), ("openWakeWord", oww, "hey jarvis", "hey jarvis"),
            ("microWakeWord", mww, "alexa", "alexa"), ("microWakeWord", mww, "hey jarvis", "hey jarvis")]


def score_all(rows, hours: float, positives: int, seed: int) -> tuple[dict, dict]:
    """Scored recordings per row (the shared negatives, then each row's own phrase clips), and what
    was spoken in each recording: ``{name: (voice, sentences or None)}``."""
    rng = np.random.default_rng(seed)
    scored = {i: [] for i in range(len(rows))}
    said_in = {}
    backends = {id(b): b for _, b, _, _ in rows}
    for name, piece, said in negative_pieces(hours, rng):
        said_in[name] = said
        per_backend = {key: b.frame_scores(piece) for key, b in backends.items()}  # one pass per front end
        for i, (_, backend, label, _) in enumerate(rows):
            scored[i].append(_recording(backend, label, name, piece, per_backend[id(backend)], []))
    phrases = sorted({p for *_, p in rows})
    for text in phrases:
        clips = list(positive_clips(text, positives, rng))
        for name, audio, span, voice in clips:
            said_in[name] = (voice, None)
            per_backend = {key: b.frame_scores(audio) for key, b in backends.items()}
            for i, (_, backend, label, spoken) in enumerate(rows):
                occurrences = [span] if spoken == text else []
                scored[i].append(_recording(backend, label, name, audio, per_backend[id(backend)], occurrences))
    return scored, said_in


def diagnose(backend, recordings, spoken: dict, threshold: float) -> dict:
    """At ``threshold``: recall per flite voice, and each false accept's time with the likeliest
    sentence behind it (the recording's sentences rescored one by one, alone, by the same voice,
    after 1 s of silence; whether that one alone crosses the threshold is said too)."""
    by_voice: dict[str, list[int]] = {}
    false_accepts = []
    for recording in recordings:
        events = evaluate.event_times(recording.times, recording.scores, threshold, 1.0)
        found, false = evaluate.match(events, recording.occurrences, evaluate.DEFAULT_TOLERANCE_S)
        voice, sentences = spoken[recording.name] or (None, None)  # None: noise, tones, music
        if recording.occurrences:
            hits = by_voice.setdefault(voice.name, [0, 0])
            hits[0] += found
            hits[1] += len(recording.occurrences)
        if not false:
            continue
        line = {"recording": recording.name, "false_accepts": false,
                "times_s": [round(t, 2) for t in evaluate.false_accept_times(
                    events, recording.occurrences, evaluate.DEFAULT_TOLERANCE_S)]}
        if sentences:
            pad = np.zeros(RATE, np.float32)
            alone = [(float(backend.frame_scores(np.concatenate([pad, synth.synthesize(text, voice) * 0.3, pad])).max()),
                      text) for text in sentences]
            score, text = max(alone)
            line.update(voice=f"{voice.name} stretch {voice.rate:.2f} f0 {voice.pitch:.0f}", likeliest_sentence=text,
                        its_score_alone=round(score, 6), fires_alone=score > threshold)
        false_accepts.append(line)
    return {"recall_by_voice": {name: f"{hit}/{total}" for name, (hit, total) in sorted(by_voice.items())},
            "false_accepts": false_accepts}


def _recording(backend, label, name, audio, rows, occurrences):
    times = np.asarray([backend.frame_end_seconds(i) for i in range(len(rows))])
    column = backend.labels.index(label)
    return evaluate.ScoredRecording(name, len(audio) / RATE, times, rows[:, column].astype(np.float64), occurrences)


def train(args) -> tuple[Path, dict]:
    from audiosift.keywords.train import train_keyword

    folder = Path(args.output) / args.phrase.replace(" ", "_")
    started = time.perf_counter()
    engines = [name for name in synth.engines_available() if name != "flite"]  # flite: held out
    print(f"training {args.phrase!r} on {', '.join(engines)} ({args.budget}); load {load_average()}", flush=True)
    result = train_keyword(args.phrase, folder, engines=engines, budget=args.budget, seed=args.seed,
                           progress=lambda m: print(f"  [{time.perf_counter() - started:5.0f} s] {m}", flush=True))
    print(f"trained in {time.perf_counter() - started:.0f} s; load {load_average()}", flush=True)
    return folder, result.manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phrase", default="hey computer")
    parser.add_argument("--budget", default="standard")
    parser.add_argument("--hours", type=float, default=1.0, help="held-out negative audio (hours)")
    parser.add_argument("--positives", type=int, default=120, help="flite clips of each phrase")
    parser.add_argument("--model", default=None, help="an already trained folder (skips training)")
    parser.add_argument("--output", default="bench/results/train_keyword")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    Path(args.output).mkdir(parents=True, exist_ok=True)
    folder, manifest = (Path(args.model), json.loads((Path(args.model) / "keyword.json").read_text())) \
        if args.model else train(args)
    rows = detectors(folder, args.phrase)
    started = time.perf_counter()
    scored, spoken = score_all(rows, args.hours, args.positives, args.seed)
    print(f"scored in {time.perf_counter() - started:.0f} s; load {load_average()}", flush=True)
    results = []
    for i, (name, backend, label, _) in enumerate(rows):
        from audiosift.inference.detector import WakeWordDetector

        threshold = float(WakeWordDetector(backend, labels=[label]).thresholds[0])
        summary = evaluate.summary(scored[i], threshold)
        at, best = summary["at_threshold"], summary["best_recall_at_1_fa_per_hour"]
        at10 = evaluate.recall_at_fa(summary["curve"], 10.0)
        summary["best_recall_at_10_fa_per_hour"] = at10
        stem = f"{name.split()[0]}-{label}".replace(" ", "_")
        evaluate.plot_det(summary["curve"], Path(args.output) / f"det-{stem}.png", f"{name}: {label}", threshold)
        results.append({"model": name, "label": label, **summary})
        if i == 0:  # the custom keyword
            results[-1]["diagnosis"] = diagnose(backend, scored[i], spoken, threshold)
            for line in results[-1]["diagnosis"]["false_accepts"]:
                print(f"  false accept: {line}", flush=True)
            print(f"  recall by voice: {results[-1]['diagnosis']['recall_by_voice']}", flush=True)
        print(f"{name:>24} {label:>14}: threshold {threshold:.7g} recall {at['recall']:.1%} ({at['found']}/"
              f"{at['occurrences']}), {at['false_accepts']} FA in {at['hours']:.2f} h = "
              f"{at['false_accepts_per_hour']:.2f}/h | best recall at <=1 FA/h: {best['recall']:.1%} "
              f"(threshold {best['threshold'] or float('nan'):.7g}), at <=10 FA/h: {at10['recall']:.1%}", flush=True)
    report = {"phrase": args.phrase, "training": {k: manifest.get(k) for k in ("training_seconds", "heldout", "recipe")},
              "results": [{k: v for k, v in r.items() if k != "curve"} for r in results], "load": load_average()}
    (Path(args.output) / "report.json").write_text(json.dumps(report, indent=2, default=float))
    print(f"wrote {args.output}/report.json and det-*.png")


if __name__ == "__main__":
    sys.exit(main())
