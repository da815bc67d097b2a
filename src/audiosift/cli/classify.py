"""``audiosift classify``: files or folders in, top-k labels out."""

from __future__ import annotations

import argparse

from audiosift.audio.files import find_audio_files
from audiosift.cli.common import add_model_arguments, add_output_arguments, load_from_args, with_progress
from audiosift.cli.output import FORMATS, RecordWriter, open_output
from audiosift.cli.windowed import EVENT_FORMATS, add_window_arguments, run_windowed, wants_windows
from audiosift.inference.classifier import source_name


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "classify", help="classify audio files with a pre-trained model",
        description="Classify audio files (or every audio file under the folders given) and print the "
                    "top-k labels of each. A file that cannot be read is reported and the others go on; "
                    "the exit code is 1 if any file failed.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders (searched recursively)")
    add_model_arguments(parser)
    add_output_arguments(parser, formats=(*FORMATS, *EVENT_FORMATS))
    add_window_arguments(parser)
    parser.add_argument("--sampling-rate", type=int, default=None, help=argparse.SUPPRESS)
    parser.set_defaults(run=run)


def run(args) -> int:
    if wants_windows(args):  # long recordings: windows, events, speech segments (cli/windowed.py)
        return run_windowed(args, find_audio_files(args.paths))
    return write_results(load_from_args(args), args)


def write_results(classifier, args, **classify_options) -> int:
    """Classify every file under ``args.paths`` and write one record each; 1 if any file failed.

    ``classify_options`` go to ``classify_many`` (the zero-shot command passes its labels this way).
    """
    files = find_audio_files(args.paths)
    if not files:
        raise SystemExit(f"audiosift {args.command}: no audio files found under {', '.join(args.paths)}")
    failures = 0
    with open_output(args.output) as stream:
        writer = RecordWriter(stream, args.format)
        results = classifier.classify_many(files, top_k=args.top_k, batch_size=getattr(args, "batch_size", None),
                                           **classify_options)
        for result in with_progress(results, len(files), args.progress):
            writer.write(result_record(result))
            failures += not result.ok
        writer.close()
    return 1 if failures else 0


def result_record(result) -> dict:
    path = source_name(result.source)
    if result.ok:
        return {"path": path, "predictions": result.predictions}
    return {"path": path, "error": result.error}
