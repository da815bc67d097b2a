"""``audiosift classify`` on long recordings: windows with timestamps, merged events, speech segments
and speech-only classification (e.g. language ID). The classify command adds these options with
:func:`add_window_arguments` and hands over to :func:`run_windowed` when one of them is used.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from audiosift.cli.common import (check_device, check_output_file, cli_wording, load_from_args, non_negative_number,
                                  refuse_input_as_output, warn)
from audiosift.cli.output import RecordWriter, atomic_path, open_output
from audiosift.errors import AudiosiftError, OutputError, UsageError
from audiosift.inference.detector import is_detector
from audiosift.inference.events import (EVENT_FORMATS, PER_FILE_FORMATS, Event, EventWriter, event_record,
                                        merge_windows, window_events)
from audiosift.inference.vad import VadOptions

SPEECH_PRESET = "speech"
SPEECH_ONLY_PRESETS = ("language",)  # presets that classify only speech by default in windowed mode
PER_FILE_SUFFIX = {"audacity": ".labels.txt", "raven": ".selections.txt"}
EVENT_MIN_SCORE = 0.5  # default --min-score of events: see min_score()
OVERALL_MARK = "(overall)"  # the speech-only answer over the whole recording, in event formats


def seconds(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    return value


def non_negative_seconds(text: str) -> float:
    return non_negative_number(text, "seconds")


def probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a score between 0 and 1, got {text}")
    return value


def add_window_arguments(parser: argparse.ArgumentParser, speech: bool = True) -> None:
    """The long-recording options; ``speech=False`` leaves out those that need a speech model
    (segments, speech-only, the VAD's settings), for commands whose models are not one."""
    group = parser.add_argument_group(
        "long recordings", "classify window by window with timestamps (see docs/long-audio.md); any of these "
                           f"options, or --format {'/'.join(EVENT_FORMATS)}, turns it on")
    group.add_argument("--window", type=seconds, default=None, metavar="SECONDS",
                       help="window length (default: the model's: " +
                            ("keywords 1 s, zero-shot 10 s, language 30 s)" if speech else "10 s for CLAP)"))
    group.add_argument("--hop", type=seconds, default=None, metavar="SECONDS",
                       help="step between window starts (default: the preset's, else half the window)")
    group.add_argument("--min-score", type=probability, default=None, metavar="S",
                       help=f"drop predictions and events scoring below S (default: {EVENT_MIN_SCORE:g} for events "
                            f"(--merge, --format {'/'.join(EVENT_FORMATS)}): the top label must be likelier than "
                            f"not; 0 for window records)")
    group.add_argument("--merge", action="store_true",
                       help="join consecutive windows with the same top label into events {label, start, end, score}")
    group.add_argument("--overwrite", action="store_true",
                       help="with --output FOLDER: redo recordings whose table is already there (default: skip "
                            "them, so a rerun finishes an interrupted folder)")
    if not speech:
        parser.set_defaults(segments=False, speech_only=None, vad_threshold=0.5, min_speech=0.25, min_silence=0.1,
                            speech_pad=0.03)
        return
    group.add_argument("--segments", action="store_true",
                       help="with --model speech: speech segments with timestamps (Silero VAD)")
    group.add_argument("--speech-only", action=argparse.BooleanOptionalAction, default=None,
                       help="classify only the speech the VAD finds, then aggregate over it (default: on for "
                            "--model language)")
    group.add_argument("--vad-threshold", type=probability, default=0.5, help="VAD speech threshold (default: 0.5)")
    group.add_argument("--min-speech", type=non_negative_seconds, default=0.25, metavar="SECONDS",
                       help="drop speech segments shorter than this (default: 0.25)")
    group.add_argument("--min-silence", type=non_negative_seconds, default=0.1, metavar="SECONDS",
                       help="silence that ends a speech segment (default: 0.1)")
    group.add_argument("--speech-pad", type=non_negative_seconds, default=0.03, metavar="SECONDS",
                       help="padding added to both ends of speech segments (default: 0.03)")


def wants_windows(args) -> bool:
    return bool(args.window or args.hop or args.merge or args.segments or args.speech_only
                or args.min_score is not None or args.format in EVENT_FORMATS)


def min_score(args) -> float:
    """--min-score, else the default: events keep only top labels likelier than not (a softmax
    label ahead of all the others together, a sigmoid label more likely present than absent);
    window records keep every prediction (they have --top-k)."""
    if args.min_score is not None:
        return args.min_score
    return EVENT_MIN_SCORE if args.merge or args.format in EVENT_FORMATS else 0.0


def vad_options(args) -> VadOptions:
    return VadOptions(threshold=args.vad_threshold, min_speech_s=args.min_speech, min_silence_s=args.min_silence,
                      pad_s=args.speech_pad)


def run_windowed(args, files: list[Path], classifier=None, candidate_labels=None, hypothesis_template=None,
                 load=None) -> int:
    """Classify each file window by window (or by speech segment) and write records or events.

    ``classifier``: already loaded, or ``load()`` makes it once the options are checked (default:
    ``--model``); zero-shot models need ``candidate_labels``.
    """
    per_file = _check_windowed_args(args, files)
    if per_file:
        files = _not_done(args, files)
        if not files:
            return 0  # all done before: no model to load
    if classifier is None and not args.segments:
        check_device(args)
        classifier = load() if load is not None else load_from_args(args)
    if classifier is not None and classifier.takes_labels and candidate_labels is None:
        raise UsageError(f"{args.model!r} is a zero-shot model: it needs candidate "
                         f"labels (audiosift zero-shot --labels ...)")
    speech_only = args.speech_only if args.speech_only is not None else args.model in SPEECH_ONLY_PRESETS
    windows = None
    reject_window_options(args, classifier)
    if classifier is not None and not speech_only and not is_detector(classifier):
        windows = _checked_window_options(args, classifier)
    rate = 16000 if classifier is None else classifier.sampling_rate
    failures = 0
    sink = _Sink(args, rate, per_file)
    try:
        for path in files:
            try:
                records = _file_records(args, path, classifier, windows, candidate_labels, hypothesis_template)
                sink.write_file(path, records)
            except AudiosiftError as error:
                if isinstance(error, (UsageError, OutputError)):
                    raise  # the whole command is wrong, not this file
                failures += 1
                sink.write_error(path, str(error))
    except BaseException as error:  # Ctrl-C included
        sink.abort(error)
        raise
    sink.close()
    return 1 if failures else 0


def _check_windowed_args(args, files: list[Path]) -> bool:
    """Option and output checks made before any model loads; True for one output file per recording."""
    if args.segments and args.model != SPEECH_PRESET:
        raise UsageError(f"--segments gives speech segments from the VAD: use "
                         f"--model {SPEECH_PRESET} (got --model {args.model})")
    to_folder = bool(args.output) and Path(args.output).is_dir()
    # A Raven table names each selection's file (Begin File): one table may hold many recordings.
    per_file = args.format in PER_FILE_FORMATS and (to_folder or (args.format == "audacity" and len(files) > 1))
    if per_file and not to_folder:
        raise UsageError(f"an {args.format} label track describes one recording; for {len(files)} "
                         f"files give --output FOLDER (an existing folder) to get one file per recording, "
                         f"or --format raven for one table of them all")
    if not per_file:
        check_output_file(args.output, files)
        return False
    if not os.access(args.output, os.W_OK):
        raise OutputError(f"cannot write into --output {args.output}: the folder is not writable")
    targets: dict[Path, Path] = {}
    for path in files:
        target = per_file_target(args, path)
        if target in targets:
            raise UsageError(f"{targets[target]} and {path} would both be written to {target}; give recordings "
                             f"with different names, or run them into different --output folders")
        targets[target] = path
        refuse_input_as_output(target, files)
    return True


def _not_done(args, files: list[Path]) -> list[Path]:
    """The recordings whose table is not yet in --output FOLDER (all of them with --overwrite). A
    table is written atomically, so one that exists is complete: a rerun finishes the others."""
    if getattr(args, "overwrite", False):
        return files
    todo = [path for path in files if not per_file_target(args, path).exists()]
    if len(todo) < len(files):
        print(f"audiosift: skipped {len(files) - len(todo)} recording(s) whose {args.format} file is already in "
              f"{args.output} (--overwrite redoes them)", file=sys.stderr)
    return todo


def per_file_target(args, path: Path) -> Path:
    return Path(args.output) / (path.stem + PER_FILE_SUFFIX[args.format])


def _file_records(args, path: Path, classifier, windows, labels, template) -> Iterator:
    """Events (``Event``) or prediction records (dicts) for one file, as they are found.

    ``windows``: the window options, or None to classify speech segments instead (--speech-only).
    """
    progress = _progress_bar(args, path)
    try:
        if args.segments:
            from audiosift.inference.vad import iter_speech_segments

            found = 0
            for segment in iter_speech_segments(path, vad_options(args), progress=progress):
                found += 1
                yield Event("speech", segment.start, segment.end, segment.score)
            if not found:  # an empty output alone looks like a failure
                warn(f"{path}: no speech found (at --vad-threshold {args.vad_threshold:g}; lower it for quiet "
                     f"or distant speech)")
        elif is_detector(classifier):  # wake words: the detections, with their times
            from audiosift.inference.detector import detect_in_recording

            found = 0
            for event in detect_in_recording(classifier, path, labels=labels, threshold=getattr(args, "threshold", None),
                                             progress=progress):
                found += 1
                yield event
            if not found:  # an empty output alone looks like a failure
                warn(f"{path}: none of {', '.join(labels or classifier.labels)} detected")
        elif windows is None:
            yield from _speech_only_records(args, path, classifier, progress)
        else:
            yield from _window_records(args, path, classifier, windows, labels, template, progress)
    finally:
        progress.close()


def reject_window_options(args, classifier) -> None:
    """--window/--hop on a wake-word model: an error, as they would be ignored (it scores every
    frame of its own front end as it streams)."""
    given = [flag for flag, value in (("--window", args.window), ("--hop", args.hop)) if value is not None]
    if given and classifier is not None and is_detector(classifier):
        raise UsageError(f"{' and '.join(given)} do not apply to {args.model!r}: a wake-word model scores "
                         f"every frame as it streams, at its own frame rate (leave them out)")


def _checked_window_options(args, classifier):
    from audiosift.inference.windows import window_options

    try:
        return window_options(classifier, args.window, args.hop, top_k=args.top_k, batch_size=args.batch_size)
    except ValueError as error:  # e.g. a hop longer than the window
        raise UsageError(cli_wording(error)) from error


def _window_records(args, path, classifier, options, labels, template, progress) -> Iterator:
    from audiosift.inference.windows import classify_windows

    windows = classify_windows(classifier, path, options, candidate_labels=labels,
                               hypothesis_template=template, progress=progress)
    yield from _events_or_records(args, windows)


def _events_or_records(args, windows) -> Iterator:
    """Window (or speech segment) records as merged events, one event each, or records of the
    predictions at or above the minimum score."""
    floor = min_score(args)
    if args.merge:
        yield from merge_windows(windows, floor)
    elif args.format in EVENT_FORMATS:
        yield from window_events(windows, floor)
    else:
        for window in windows:
            kept = [p for p in window["predictions"] if p["score"] >= floor]
            if kept:
                yield dict(window, predictions=kept)


def _speech_only_records(args, path, classifier, progress) -> Iterator:
    from audiosift.inference.speech_gated import classify_speech

    result = classify_speech(classifier, path, top_k=args.top_k, vad_options=vad_options(args),
                             max_segment_s=args.window, progress=progress)
    yield from _events_or_records(args, result.segments)
    if args.format in EVENT_FORMATS:  # an event over the whole recording, its label marked as the overall answer
        if result.predictions:
            best = result.predictions[0]
            yield Event(f"{best['label']} {OVERALL_MARK}", 0.0, round(result.duration_seconds, 6), float(best["score"]))
        return
    yield {"predictions": result.predictions or [], "speech_seconds": result.speech_seconds,
           "duration_seconds": result.duration_seconds, "overall": True}


class _Sink:
    """Where records and events go: one stream, or one file per recording for per-file formats."""

    def __init__(self, args, rate: int, per_file: bool):
        self.args, self.nyquist, self.per_file = args, rate / 2, per_file
        self._context = None if per_file else open_output(args.output, args.format)
        self.stream = None if per_file else self._context.__enter__()
        self.records = None if per_file or args.format in EVENT_FORMATS else RecordWriter(self.stream, args.format)
        self.events = EventWriter(self.stream, args.format, self.nyquist) \
            if not per_file and args.format in EVENT_FORMATS else None

    def write_file(self, path: Path, items: Iterator) -> None:
        if self.per_file:
            # atomic: a file that fails half way leaves no half table (nor an earlier good one clobbered)
            with atomic_path(per_file_target(self.args, path)) as temporary, \
                    open(temporary, "w", encoding="utf-8", newline="") as handle:
                writer = EventWriter(handle, self.args.format, self.nyquist)
                for item in items:
                    writer.write(item, str(path))
            return
        last_end = 0.0
        for item in items:
            if self.events is not None:
                self.events.write(item, str(path))
                last_end = max(last_end, item.end)
            elif isinstance(item, Event):
                self.records.write(event_record(item, str(path)))
            else:
                self.records.write(dict({"path": str(path)}, **item))
        if self.events is not None:  # the next recording of a combined table starts where this one ends
            self.events.file_offset_s += _duration(path, last_end)

    def write_error(self, path: Path, message: str) -> None:
        if self.records is not None:
            self.records.write({"path": str(path), "error": message})
        else:
            print(f"audiosift: {path}: error: {message}", file=sys.stderr)

    def close(self) -> None:
        if self.records is not None:
            self.records.close()
        if self._context is not None:
            self._context.__exit__(None, None, None)

    def abort(self, error: BaseException) -> None:
        """Stop without completing a whole-file output (an atomic ``json`` keeps the earlier file)."""
        if self._context is not None:
            self._context.__exit__(type(error), error, error.__traceback__)


def _duration(path: Path, at_least: float) -> float:
    """The recording's length as its container says (else the end of its last event)."""
    from audiosift.audio.stream import audio_duration

    try:
        return max(audio_duration(path) or 0.0, at_least)
    except AudiosiftError:
        return at_least


class _NoBar:
    def __call__(self, done_s: float, total_s: float | None) -> None:
        pass

    def close(self) -> None:
        pass


class _TimeBar:
    """A tqdm bar of seconds done out of the file's duration (when the container says it)."""

    def __init__(self, path: Path):
        from tqdm import tqdm

        from audiosift.audio.stream import audio_duration

        try:
            total = audio_duration(path)
        except AudiosiftError:
            total = None  # the real error is reported when the file is read
        shape = "{percentage:3.0f}%|{bar}| {n:.0f}/{total:.0f} s" if total else "{n:.0f} s"
        self.bar = tqdm(total=round(total, 1) if total else None, desc=path.name, file=sys.stderr,
                        dynamic_ncols=True, bar_format="{desc}: " + shape + " [{elapsed}<{remaining}]")

    def __call__(self, done_s: float, total_s: float | None) -> None:
        self.bar.update(round(done_s, 1) - self.bar.n)

    def close(self) -> None:
        self.bar.close()


def _progress_bar(args, path: Path):
    enabled = args.progress if args.progress is not None else sys.stderr.isatty()
    return _TimeBar(path) if enabled else _NoBar()
