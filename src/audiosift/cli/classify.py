"""``audiosift classify``: files or folders in, top-k labels out."""

from __future__ import annotations

import argparse
import itertools

from audiosift.cli.common import (add_label_arguments, add_model_arguments, add_output_arguments, check_device,
                                  check_output_file, cli_wording, find_inputs, load_from_args, read_labels,
                                  with_progress)
from audiosift.cli.output import FORMATS, RecordWriter, open_output
from audiosift.cli.windowed import EVENT_FORMATS, add_window_arguments, run_windowed, wants_windows
from audiosift.errors import UsageError
from audiosift.inference.classifier import source_name
from audiosift.models.registry import names_a_detector


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "classify", help="classify audio files with a pre-trained model",
        description="Classify audio files (or every audio file under the folders given) and print the "
                    "top-k labels of each. A file that cannot be read is reported and the others go on; "
                    "the exit code is 1 if any file failed.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders (searched recursively)")
    add_model_arguments(parser)
    add_label_arguments(parser, "keep")
    add_output_arguments(parser, formats=(*FORMATS, *EVENT_FORMATS))
    add_window_arguments(parser)
    parser.add_argument("--sampling-rate", type=int, default=None, help=argparse.SUPPRESS)
    parser.set_defaults(run=run)


def run(args) -> int:
    labels = read_labels(args)  # a fixed model's labels to keep: scores stay the model's own
    files = find_inputs(args)
    # Long recordings (windows, events, speech segments) and wake-word models (detections with their
    # times) are classified as streams: cli/windowed.py.
    if wants_windows(args) or names_a_detector(args.model):
        return run_windowed(args, files, candidate_labels=labels)
    check_output_file(args.output, files)
    check_device(args)
    return write_results(load_from_args(args), args, files, candidate_labels=labels)


def write_results(classifier, args, files, **classify_options) -> int:
    """Classify ``files`` and write one record each; 1 if any file failed.

    ``classify_options`` go to ``classify_many`` (the zero-shot command passes its labels this way).
    The caller has checked ``args.output`` and found ``files`` (:func:`find_inputs`).
    """
    try:
        results = iter(classifier.classify_many(files, top_k=args.top_k, batch_size=getattr(args, "batch_size", None),
                                                **classify_options))
        first = next(results, None)  # a generator checks its options on the first step
    except ValueError as error:  # the library's own check of the options (UsageError included)
        raise usage_error_for(args, classifier, error) from error
    failures = 0
    with open_output(args.output, args.format) as stream:
        writer = RecordWriter(stream, args.format)
        for result in with_progress(itertools.chain([first] if first else [], results), len(files), args.progress):
            writer.write(result_record(result))
            failures += not result.ok
        writer.close()
    return 1 if failures else 0


def usage_error_for(args, classifier, error: Exception) -> UsageError:
    """The library's complaint about an option, in the CLI's words (flags, not parameters)."""
    if not getattr(args, "labels", None) and not getattr(args, "labels_file", None) and \
            getattr(classifier, "takes_labels", "candidate_labels" in str(error)):
        return UsageError(f"{args.model!r} is a zero-shot model: it scores labels you give; use "
                          f"`audiosift zero-shot --model {args.model} --labels ...`")
    return UsageError(cli_wording(error))


def result_record(result) -> dict:
    path = source_name(result.source)
    if result.ok:
        return {"path": path, "predictions": result.predictions}
    return {"path": path, "error": result.error}
