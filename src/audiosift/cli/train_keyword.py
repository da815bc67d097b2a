"""``audiosift train-keyword "PHRASE" --output DIR``: a custom wake word from its text, offline.

Positives are synthesized with every installed voice (espeak-ng, flite, Piper), negatives from other
speech, near-misses and non-speech; the head trains on openWakeWord's frozen speech embedding.
The folder it writes loads wherever a model is named (``-m DIR`` in listen, classify, serve).
See docs/wake-words.md for the recipe and measured results.
"""

from __future__ import annotations

import sys
import time

from audiosift.cli.common import non_negative_number
from audiosift.errors import UsageError
from audiosift.keywords.engines import ENGINES


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "train-keyword", help="train a custom wake word from its text (offline, a few minutes on a CPU)",
        description="Train a detector for PHRASE on openWakeWord's speech embedding: positives spoken by every "
                    "installed synthesizer voice (espeak-ng, flite, Piper's neural voice) with noise, music, room and speed "
                    "augmentation, negatives from other speech, near-misses and non-speech, plus your own "
                    "recordings. Prints recall and false accepts per hour on held-out voices and text, and "
                    "writes DIR (keyword.json + head.npz) for `audiosift listen -m DIR` and friends.")
    parser.add_argument("phrase", help="the keyword as words, e.g. \"hey computer\"")
    parser.add_argument("--output", "-o", required=True, metavar="DIR",
                        help="folder to write (new, empty, or an earlier keyword's to replace it)")
    parser.add_argument("--examples", default=None, metavar="FOLDER",
                        help="your recordings of the phrase (5-20 clips, one utterance each): trained on with "
                             "augmentation, a quarter held out to check recall on your voice")
    parser.add_argument("--negatives", default=None, metavar="FOLDER",
                        help="audio without the phrase (your room, TV, speech): more negatives")
    parser.add_argument("--budget", default="standard", choices=["tiny", "quick", "standard"],
                        help="how much data and training: tiny (~20 s, a smoke test, not a usable model), quick "
                             "(~85 s), standard (default, ~9 min on 2 cores)")
    parser.add_argument("--synthesizers", nargs="+", default=None, choices=list(ENGINES),
                        help="voices to synthesize with (default: every installed one)")
    parser.add_argument("--frontend", default="tflite", choices=["tflite", "onnx"],
                        help="runtime of the melspectrogram and embedding models (default: tflite, LiteRT)")
    parser.add_argument("--max-fa-per-hour", type=non_negative_number, default=1.0, metavar="RATE",
                        help="false accepts per hour the threshold may allow on held-out audio (default: 1)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of voices, augmentation, training")
    parser.set_defaults(run=run)


def run(args) -> int:
    from audiosift.keywords.train import train_keyword

    started = time.perf_counter()

    def progress(message: str) -> None:
        print(f"audiosift train-keyword [{time.perf_counter() - started:5.0f} s] {message}", file=sys.stderr,
              flush=True)

    try:
        result = train_keyword(args.phrase, args.output, examples=args.examples, negatives=args.negatives,
                               budget=args.budget, engines=args.synthesizers, frontend=args.frontend,
                               max_fa_per_hour=args.max_fa_per_hour, seed=args.seed, progress=progress)
    except ValueError as error:
        if isinstance(error, UsageError):
            raise
        raise UsageError(str(error)) from error
    held = result.manifest["heldout"]
    user = f", your recordings {held['user_recall']:.0%}" if held.get("user_recall") is not None else ""
    print(f"{result.manifest['phrase']}: threshold {result.manifest['threshold']:.7g}; held out: recall "
          f"{held['recall']:.1%} ({held['found']}/{held['occurrences']}){user}, {held['false_accepts']} false "
          f"accept(s) in {held['hours']:.2f} h = {held['false_accepts_per_hour']:.2f}/h; trained in "
          f"{result.manifest['training_seconds']:.0f} s")
    print(f"wrote {result.folder} (try: audiosift listen -m {result.folder} --input FILE)")
    return 0
