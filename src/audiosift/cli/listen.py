"""``audiosift listen``: live detection from the microphone (or a file fed as if it were one).

The microphone is read with ``sounddevice`` (PortAudio), imported only here. ``--input FILE``
feeds a file through the same detector, paced to the wall clock with ``--realtime`` or as fast as
possible, so everything but the sound card can be tried and tested without a microphone.
"""

from __future__ import annotations

import json
import os
import queue
import sys

from audiosift.cli.common import add_model_arguments, check_device, cli_wording, load_from_args
from audiosift.errors import AudiosiftError, UsageError
from audiosift.cli.windowed import non_negative_seconds, probability, seconds

# Audio arrives from the sound card in blocks of this length: short enough for low latency,
# long enough that Python wakes up only ten times a second.
CHUNK_SECONDS = 0.1
PORTAUDIO_HELP = ("the microphone needs PortAudio and the sounddevice package: install PortAudio "
                  "(Debian/Ubuntu: apt-get install libportaudio2; macOS: brew install portaudio) and "
                  "pip install 'audiosift[mic]'; or try a recording with --input FILE")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "listen", help="detect keywords (or other labels) live from the microphone",
        description="Listen to the default microphone (or --input FILE) and print one line per detection. "
                    "The VAD runs first and the model only hears windows with speech (--no-vad to "
                    "classify every window, e.g. for non-speech sounds). Ctrl+C stops.")
    add_model_arguments(parser, default_model="keywords")
    parser.add_argument("--labels", nargs="+", default=None, metavar="LABEL",
                        help="labels that may fire (default: all of the model's); for zero-shot models the "
                             "candidate labels (required). Commas also separate labels")
    parser.add_argument("--threshold", "-t", type=probability, default=None,
                        help="score at which a label fires (default: 0.5; a wake-word model's own cutoffs)")
    parser.add_argument("--no-vad", dest="vad", action="store_false",
                        help="classify every window, not only those with speech")
    parser.add_argument("--window", type=seconds, default=None, metavar="SECONDS",
                        help="window length (default: the model's, 1 s for keywords)")
    parser.add_argument("--hop", type=seconds, default=None, metavar="SECONDS",
                        help="step between windows (default: the preset's, else half the window)")
    parser.add_argument("--refractory", type=non_negative_seconds, default=None, metavar="SECONDS",
                        help="a label heard again within this time of its last detection is the same utterance "
                             "(default: 0.5; 1 for wake-word models)")
    parser.add_argument("--input", "-i", default=None, metavar="FILE",
                        help="read this file instead of the microphone")
    parser.add_argument("--realtime", action="store_true", help="with --input: pace the file to the wall clock")
    parser.add_argument("--mic", default=None, metavar="DEVICE",
                        help="input device (index or name, see `python -m sounddevice`; default: the system's)")
    parser.add_argument("--format", "-f", default="table", choices=["table", "jsonl"],
                        help="one line per detection: readable (table) or JSON (jsonl)")
    parser.set_defaults(run=run)


def run(args) -> int:
    if args.realtime and not args.input:
        raise UsageError("--realtime paces a file: use it with --input FILE")
    if args.input and not os.path.isfile(args.input):
        raise UsageError(f"--input {args.input}: no such file (give an audio file, or leave --input out for "
                         f"the microphone)")
    labels = split_labels(args.labels)
    microphone = None if args.input else open_microphone(args.mic)  # fail fast, before loading a model
    check_device(args)
    classifier = load_from_args(args)
    try:
        detector = make_detector(classifier, args, labels)
    except ValueError as error:
        raise UsageError(cli_wording(error)) from error
    emit = _printer(args.format)
    if args.input:
        from audiosift.inference.streaming import detect_in_file

        count = 0
        for event in detect_in_file(detector, args.input, realtime=args.realtime, chunk_s=CHUNK_SECONDS):
            emit(event)
            count += 1
        heard = (f"; the model classified {detector.windows_classified} of {detector.windows_seen} windows"
                 if hasattr(detector, "windows_seen") else "")
        print(f"audiosift listen: {count} detection(s){heard}", file=sys.stderr)
        return 0
    return listen_to_microphone(detector, microphone, emit)


def make_detector(classifier, args, labels):
    """A wake-word model streams its own frames (each family's thresholds, no VAD needed: it costs
    ~1.5% of a core); any other classifier runs window by window behind the VAD."""
    from audiosift.inference.detector import DEFAULT_REFRACTORY_S, WakeWordDetector, is_detector
    from audiosift.inference.streaming import StreamingClassifier

    if is_detector(classifier):
        refractory = DEFAULT_REFRACTORY_S if args.refractory is None else args.refractory
        return WakeWordDetector(classifier, labels=labels, threshold=args.threshold, refractory_s=refractory)
    return StreamingClassifier(classifier, labels=labels, threshold=0.5 if args.threshold is None else args.threshold,
                               vad=args.vad, window_s=args.window, hop_s=args.hop,
                               refractory_s=0.5 if args.refractory is None else args.refractory)


def split_labels(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [label.strip() for value in values for label in value.split(",") if label.strip()]


def _printer(fmt: str):
    def emit(event) -> None:
        if fmt == "jsonl":
            print(json.dumps(event.as_dict(), ensure_ascii=False), flush=True)
        else:
            print(f"{event.start:9.2f} s  {event.label}  ({event.score:.2f})", flush=True)

    return emit


def import_sounddevice():
    try:
        import sounddevice
    except (ImportError, OSError) as error:  # OSError: the module is there but libportaudio is not
        raise AudiosiftError(f"{PORTAUDIO_HELP} ({type(error).__name__}: {error})") from error
    return sounddevice


def open_microphone(device: str | None):
    """``(sounddevice, device, info)`` for the input device, or a clear exit if there is none."""
    sounddevice = import_sounddevice()
    device = int(device) if device is not None and str(device).isdigit() else device
    try:
        info = sounddevice.query_devices(device, "input")
    except (ValueError, sounddevice.PortAudioError) as error:
        raise AudiosiftError(f"no usable microphone ({error}); list devices with "
                         f"`python -m sounddevice`, pick one with --mic, or use --input FILE") from error
    return sounddevice, device, info


def listen_to_microphone(detector, microphone, emit) -> int:
    sounddevice, device, info = microphone
    device_rate = int(info["default_samplerate"])
    resampler = None
    if device_rate != detector.rate:  # record at the card's own rate; resample on the fly
        from audiosift.audio.decode import resample_stream

        resampler = resample_stream(device_rate, detector.rate)
    blocks: queue.Queue = queue.Queue()

    def on_audio(indata, frames, time_info, status):  # PortAudio's thread: hand over, nothing more
        if status:
            print(f"audiosift listen: audio input: {status}", file=sys.stderr)
        blocks.put(indata[:, 0].copy())

    with sounddevice.InputStream(samplerate=device_rate, channels=1, dtype="float32", device=device,
                                 blocksize=round(CHUNK_SECONDS * device_rate), callback=on_audio,
                                 finished_callback=lambda: blocks.put(None)):  # None: the device stopped
        print(f"audiosift listen: listening on {info['name']!r} ({', '.join(detector.labels[:8])}"
              f"{', ...' if len(detector.labels) > 8 else ''}); Ctrl+C stops", file=sys.stderr)
        while (chunk := blocks.get()) is not None:
            for event in detector(resampler.resample_chunk(chunk) if resampler else chunk):
                emit(event)
    print("audiosift listen: the audio input stopped", file=sys.stderr)
    for event in detector.flush():
        emit(event)
    return 0
