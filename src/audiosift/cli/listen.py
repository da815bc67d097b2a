"""``audiosift listen``: live detection from the microphone (or a file fed as if it were one).

The microphone is read with ``sounddevice`` (PortAudio), imported only here. ``--input FILE``
feeds a file through the same detector, paced to the wall clock with ``--realtime`` or as fast as
possible, so everything but the sound card can be tried and tested without a microphone.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import sys
from pathlib import Path

from audiosift.cli.common import (add_label_arguments, add_model_arguments, check_device, check_output_file,
                                  cli_wording, load_from_args, read_labels, templates_from_args,
                                  warn_single_label)
from audiosift.cli.windowed import non_negative_seconds, reject_window_options, seconds
from audiosift.errors import AudiosiftError, OutputError, UsageError
from audiosift.inference.events import EVENT_FORMATS, EventWriter

# Audio arrives from the sound card in blocks of this length: short enough for low latency,
# long enough that Python wakes up only ten times a second.
CHUNK_SECONDS = 0.1
PORTAUDIO_HELP = ("the microphone needs PortAudio and the sounddevice package: install PortAudio "
                  "(Debian/Ubuntu: apt-get install libportaudio2; macOS: brew install portaudio) and "
                  "pip install 'audiosift[mic]'; or try a recording with --input FILE")


LISTEN_FORMATS = ("table", "jsonl", *EVENT_FORMATS)


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "listen", help="detect keywords (or other labels) live from the microphone",
        description="Listen to the default microphone (or --input FILE) and print one line per detection. "
                    "The VAD runs first and the model only hears windows with speech (--no-vad to "
                    "classify every window, e.g. for non-speech sounds). Wake-word models hear every frame "
                    "(they cost ~1.5%% of a core); --vad lets them fire only in speech. Ctrl+C stops.")
    add_model_arguments(parser, default_model="keywords")
    add_label_arguments(parser, "either", templates=True)
    # `--labels yes no` (space-separated, the old spelling) still works: the words after the first
    parser.add_argument("more_labels", nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--threshold", action="append", type=threshold_value, default=None, metavar="S|LABEL=S",
                        help="score at which a label fires: one number for all, or per label, e.g. "
                             "--threshold alexa=0.6,'hey jarvis'=0.4 (repeatable; labels not named keep the "
                             "default: 0.5, or a wake-word model's own cutoffs)")
    parser.add_argument("--vad", dest="vad", action="store_true", default=None,
                        help="wake-word models: fire only where the VAD hears speech (default for other models)")
    parser.add_argument("--no-vad", dest="vad", action="store_false",
                        help="classify every window, not only those with speech")
    parser.add_argument("--vad-threshold", type=vad_probability, default=0.5,
                        help="VAD speech probability a frame needs to count as speech (default: 0.5)")
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
    parser.add_argument("--format", "-f", default="table", choices=LISTEN_FORMATS,
                        help="one line per detection: readable (table), JSON (jsonl), or an event table "
                             "(events-csv, an Audacity label track, a Raven selection table); default: table")
    parser.add_argument("--output", "-o", default=None, metavar="FILE",
                        help="write the detections to this file (line by line, so Ctrl+C keeps them) "
                             "instead of stdout")
    parser.add_argument("--frame-scores", default=None, metavar="FILE",
                        help="wake-word models: also write every frame's scores to FILE as JSON lines "
                             "{time, scores: {label: score}} (to pick thresholds)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="with --input: seconds done on stderr (default: when stderr is a terminal)")
    parser.set_defaults(run=run)


def threshold_value(text: str) -> dict:
    """argparse type of --threshold: ``0.6`` -> ``{None: 0.6}``; ``alexa=0.6,hey jarvis=0.4`` -> per label."""
    values = {}
    for part in (piece.strip() for piece in text.split(",")):
        label, _, number = part.rpartition("=")
        try:
            value = float(number)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a score or LABEL=SCORE, got {part!r}") from None
        if not 0.0 < value <= 1.0:
            raise argparse.ArgumentTypeError(f"expected a score in (0, 1], got {part!r}")
        values[label.strip().strip("'\"") or None] = value
    return values


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def vad_probability(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a probability between 0 and 1 (exclusive), got {text}")
    return value


def run(args) -> int:
    if args.realtime and not args.input:
        raise UsageError("--realtime paces a file: use it with --input FILE")
    if args.input and not os.path.isfile(args.input):
        raise UsageError(f"--input {args.input}: no such file (give an audio file, or leave --input out for "
                         f"the microphone)")
    if args.template and all(_is_number(t) for t in args.template):  # `-t 0.7`: listen's -t used to be this
        raise UsageError(f"-t/--template is a zero-shot prompt in every subcommand; for a score at which labels "
                         f"fire use --threshold {args.template[0]}")
    if args.more_labels and not args.labels:
        raise UsageError(f"unexpected argument {args.more_labels[0]!r}: listen takes no paths (use --input FILE)")
    labels = read_labels(args)
    inputs = [Path(args.input)] if args.input else []
    for target, flag in ((args.output, "--output"), (args.frame_scores, "--frame-scores")):
        check_output_file(target, inputs, flag)
    microphone = None if args.input else open_microphone(args.mic)  # fail fast, before loading a model
    check_device(args)
    classifier = load_from_args(args)
    if classifier.takes_labels:
        warn_single_label(labels)
    try:
        detector = make_detector(classifier, args, labels)
    except ValueError as error:
        raise UsageError(cli_wording(error)) from error
    with _outputs(args, detector) as (emit, frames):
        watch = _Watch(detector, emit, frames, _progress(args))
        try:
            if args.input:
                return _listen_to_file(watch, args)
            return listen_to_microphone(watch, microphone)
        except KeyboardInterrupt:
            watch.close()  # the progress bar ends before the count is said
            print(f"audiosift listen: stopped; {watch.count} detection(s)", file=sys.stderr)
            raise


def _listen_to_file(watch, args) -> int:
    from audiosift.inference.streaming import detect_in_file

    for _ in detect_in_file(watch, args.input, realtime=args.realtime, chunk_s=CHUNK_SECONDS):
        pass  # _Watch writes each event as it comes
    watch.close()
    detector = watch.detector
    heard = (f"; the model classified {detector.windows_classified} of {detector.windows_seen} windows"
             if hasattr(detector, "windows_seen") else "")
    print(f"audiosift listen: {watch.count} detection(s){heard}", file=sys.stderr)
    return 0


def make_detector(classifier, args, labels):
    """The live detector for ``classifier`` (the library chooses: inference.detector.live_detector)."""
    from audiosift.inference.detector import is_detector, live_detector

    if args.frame_scores and not is_detector(classifier):
        raise UsageError(f"--frame-scores needs a wake-word model (it scores every frame as it streams); "
                         f"{args.model!r} scores windows: use --format jsonl for its detections with scores")
    reject_window_options(args, classifier)
    window_options = {} if is_detector(classifier) else {
        "window_s": args.window, "hop_s": args.hop, "hypothesis_template": templates_from_args(args)}
    return live_detector(classifier, labels=labels, threshold=thresholds_for(args.threshold, labels or classifier.labels),
                         vad=args.vad, vad_threshold=args.vad_threshold, refractory_s=args.refractory,
                         return_scores=bool(args.frame_scores), **window_options)


def thresholds_for(given: list[dict] | None, labels: list[str] | None):
    """--threshold values -> None (defaults), one number, or {label: number} (a bare number the
    default for labels not named)."""
    if not given:
        return None
    merged = {key: value for values in given for key, value in values.items()}
    default = merged.pop(None, None)
    if not merged:
        return default
    if default is not None and labels:
        merged = {label: default for label in labels} | merged
    return merged


class _Watch:
    """The detector as ``detect_in_file`` and the microphone loop see it: each event is written
    (and counted) as it comes, frame scores go to --frame-scores, seconds heard to the progress bar."""

    def __init__(self, detector, emit, frames, progress):
        self.detector, self.emit, self.frames, self.progress = detector, emit, frames, progress
        self.rate, self.labels = detector.rate, detector.labels
        self.count, self.heard = 0, 0

    def reset(self) -> None:
        self.detector.reset()

    def __call__(self, chunk) -> list:
        self.heard += len(chunk)
        self.progress(self.heard / self.rate, None)
        return self._take(self.detector(chunk))

    def flush(self) -> list:
        return self._take(self.detector.flush())

    def _take(self, result) -> list:
        events = result
        if getattr(self.detector, "return_scores", False):
            events, scores = result
            for time, row in zip(scores.times, scores.scores):
                self.frames.write(json.dumps({"time": round(float(time), 6), "scores": {
                    label: round(float(value), 6) for label, value in zip(scores.labels, row)}}) + "\n")
        for event in events:
            self.emit(event)
            self.count += 1
        return events

    def close(self) -> None:
        self.progress.close()


@contextlib.contextmanager
def _outputs(args, detector):
    """``(emit, frames)``: where detections and frame scores go. Files are written line by line,
    not atomically: a microphone session ends with Ctrl+C, and what was heard must stay."""
    with contextlib.ExitStack() as stack:
        stream = stack.enter_context(_open(args.output, "--output")) if args.output else sys.stdout
        frames = stack.enter_context(_open(args.frame_scores, "--frame-scores")) if args.frame_scores else None
        yield _printer(args.format, stream, args.input or "", detector.rate / 2), frames


def _open(path: str, flag: str):
    try:
        return open(path, "w", encoding="utf-8", newline="")
    except OSError as error:
        raise OutputError(f"cannot write {flag} {path}: {error.strerror or error}") from error


def _printer(fmt: str, stream, source: str, nyquist_hz: float):
    if fmt in EVENT_FORMATS:
        writer = EventWriter(stream, fmt, nyquist_hz)
        return lambda event: writer.write(event, source)

    def emit(event) -> None:
        if fmt == "jsonl":
            print(json.dumps(event.as_dict(), ensure_ascii=False), file=stream, flush=True)
        else:
            print(f"{event.start:9.2f} s  {event.label}  ({event.score:.2f})", file=stream, flush=True)

    return emit


def _progress(args):
    from audiosift.cli.windowed import _NoBar, _TimeBar

    enabled = args.progress if args.progress is not None else sys.stderr.isatty()
    return _TimeBar(Path(args.input)) if args.input and enabled else _NoBar()


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


def listen_to_microphone(detector, microphone) -> int:
    """Feed the microphone to ``detector`` (a :class:`_Watch`, which writes the events) until it stops."""
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
            detector(resampler.resample_chunk(chunk) if resampler else chunk)
    print(f"audiosift listen: the audio input stopped; {detector.count} detection(s)", file=sys.stderr)
    detector.flush()
    return 0
