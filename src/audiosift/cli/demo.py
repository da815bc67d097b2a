"""``audiosift demo``: the README's main job — classify the example clips with a real model.

It uses the ``keywords`` preset (the seed's AST keyword spotter) when the hub is reachable or the
model is cached; otherwise it says why in one line and runs the offline ``speech`` preset, so a
fresh machine without a hub still shows real output. Then it speaks a short recording with espeak-ng
(two wake words among other sentences) and runs the offline ``wake-word`` preset over it, printing
each detection with its time beside where the phrase really was.
"""

from __future__ import annotations

import sys
from pathlib import Path

from audiosift.cli.common import add_output_arguments
from audiosift.errors import ModelError

DEFAULT_CLIPS = Path("examples") / "clips"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="classify the example clips (keywords model, or the offline speech model)",
        description="Classify the example clips with the `keywords` preset, falling back to the offline "
                    "`speech` preset (with a one-line reason) when the keywords model cannot be had.")
    parser.add_argument("paths", nargs="*", metavar="PATH", default=[str(DEFAULT_CLIPS)],
                        help=f"clips or folders (default: {DEFAULT_CLIPS})")
    parser.add_argument("--model", "-m", default="keywords", help="model to try first (default: keywords)")
    parser.add_argument("--no-wake-words", dest="wake_words", action="store_false",
                        help="skip the wake-word part (a recording spoken by espeak-ng, searched for wake words)")
    add_output_arguments(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    import audiosift
    from audiosift.cli.classify import write_results
    from audiosift.cli.common import check_output_file, find_inputs

    files = find_inputs(args)
    check_output_file(args.output, files)
    try:
        classifier = audiosift.load(args.model)
    except ModelError as error:
        print(f"audiosift demo: {args.model} model unavailable ({_first_sentence(error)}); "
              f"using the offline 'speech' model instead", file=sys.stderr)
        classifier = audiosift.load("speech")
    print(f"audiosift demo: model {classifier.model_id} ({len(classifier.labels)} labels)", file=sys.stderr)
    code = write_results(classifier, args, files)
    if args.wake_words and not args.output:
        wake_word_demo(json_lines=args.format == "jsonl")
    return code


# The spoken recording: (text, is it a wake word of the `wake-word` preset?).
DEMO_PHRASES = [("turn on the lights in the kitchen", False), ("alexa", True), ("what time is it", False),
                ("hey jarvis", True), ("thank you very much", False)]
DEMO_GAP_SECONDS = 0.8


def wake_word_demo(json_lines: bool = False) -> None:
    """Speak DEMO_PHRASES with espeak-ng and print the wake words the offline detector finds."""
    import json

    import audiosift
    from audiosift.inference.detector import detect_in_recording

    try:
        recording, truth = _spoken_recording()
        detector = audiosift.load("wake-word")
    except (OSError, RuntimeError, audiosift.AudiosiftError) as error:
        print(f"audiosift demo: wake words skipped ({_first_sentence(error)})", file=sys.stderr)
        return
    found = list(detect_in_recording(detector, recording, sampling_rate=16000))
    if json_lines:
        for text, start, end in truth:
            print(json.dumps({"demo": "wake-word", "said": text, "start": round(start, 3), "end": round(end, 3)}))
        for event in found:
            print(json.dumps({"demo": "wake-word", **event.as_dict()}))
        return
    print("\nwake words in a recording spoken by espeak-ng (offline openWakeWord models, heads CC BY-NC-SA 4.0):")
    for text, start, end in truth:
        print(f"  said {text!r:40} at {start:5.2f}-{end:5.2f} s")
    for event in found:
        print(f"  heard {event.label!r:39} by {event.end:5.2f} s  (score {event.score:.2f})")
    if not found:
        print("  (no detections)")


def _spoken_recording():
    """``(16 kHz mono samples, [(wake word, start s, end s)])`` for DEMO_PHRASES, via espeak-ng."""
    import shutil
    import subprocess
    import tempfile

    import numpy as np

    from audiosift.audio import load_audio

    if shutil.which("espeak-ng") is None:
        raise RuntimeError("espeak-ng is not installed: apt-get install espeak-ng")
    parts, truth, at = [], [], DEMO_GAP_SECONDS
    gap = np.zeros(int(DEMO_GAP_SECONDS * 16000), np.float32)
    with tempfile.TemporaryDirectory() as folder:
        for index, (text, wake) in enumerate(DEMO_PHRASES):
            path = Path(folder) / f"{index}.wav"
            subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(path), text], check=True, capture_output=True)
            spoken = load_audio(path, 16000)
            if wake:
                truth.append((text, at, at + len(spoken) / 16000))
            parts += [gap, spoken]
            at += (len(gap) + len(spoken)) / 16000
    return np.concatenate(parts + [gap]), truth


def _first_sentence(error: Exception) -> str:
    return str(error).split(". ")[0]
