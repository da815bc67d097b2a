"""``audiosift zero-shot``: score files against labels typed on the command line (a CLAP model)."""

from __future__ import annotations

import argparse

from audiosift.cli.classify import write_results
from audiosift.cli.common import (add_label_arguments, add_model_arguments, add_output_arguments, check_device,
                                  check_output_file, find_inputs, load_from_args, read_labels,
                                  templates_from_args, warn_single_label)
from audiosift.cli.output import FORMATS
from audiosift.cli.windowed import EVENT_FORMATS, add_window_arguments, run_windowed, wants_windows
from audiosift.errors import UnsupportedModelError

DEFAULT_MODEL = "zero-shot"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "zero-shot", help="score audio files against labels you type (CLAP)",
        description="Score audio files (or every audio file under the folders given) against candidate labels "
                    "with a CLAP model, and print the top-k labels of each. Any sampling rate; clips longer "
                    "than 10 s are scored from fixed 10 s windows (deterministic). A file that cannot be read "
                    "is reported and the others go on; the exit code is 1 if any file failed.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders (searched recursively)")
    add_label_arguments(parser, "score", templates=True)
    parser.add_argument("--text-cache", metavar="DIR", default=None,
                        help="keep label embeddings in this folder across runs (default: $AUDIOSIFT_TEXT_CACHE, "
                             "else memory only)")
    add_model_arguments(parser, default_model=DEFAULT_MODEL)
    add_output_arguments(parser, formats=(*FORMATS, *EVENT_FORMATS))
    add_window_arguments(parser, speech=False)  # speech segments and speech-only need a speech model
    parser.add_argument("--sampling-rate", type=int, default=None, help=argparse.SUPPRESS)
    parser.set_defaults(run=run)


def load_zero_shot_from_args(args, command: str):
    """The model of ``--model``; it must be a CLAP model."""
    model = load_from_args(args)
    if not model.takes_labels:
        raise UnsupportedModelError(
            f"{args.model!r} has a fixed label set; `audiosift {command}` needs a CLAP model such as the "
            f"'zero-shot' preset (laion/clap-htsat-unfused). Use `audiosift classify` for this model.")
    text_cache = getattr(args, "text_cache", None)
    if text_cache:
        model.use_text_cache(text_cache)
    return model


def run(args) -> int:
    labels = read_labels(args)
    templates = templates_from_args(args)
    warn_single_label(labels)
    files = find_inputs(args)
    if wants_windows(args):  # long recordings: windows with timestamps and merged events
        return run_windowed(args, files, load=lambda: load_zero_shot_from_args(args, "zero-shot"),
                            candidate_labels=labels, hypothesis_template=templates)
    check_output_file(args.output, files)
    check_device(args)
    model = load_zero_shot_from_args(args, "zero-shot")
    return write_results(model, args, files, candidate_labels=labels, hypothesis_template=templates)
