"""``audiosift zero-shot``: score files against labels typed on the command line (a CLAP model)."""

from __future__ import annotations

import argparse

from audiosift.cli.classify import write_results
from audiosift.cli.common import (add_model_arguments, add_output_arguments, check_device, check_output_file,
                                  cli_wording, find_inputs, load_from_args)
from audiosift.cli.output import FORMATS
from audiosift.cli.windowed import EVENT_FORMATS, add_window_arguments, run_windowed, wants_windows
from audiosift.errors import UnsupportedModelError, UsageError
from audiosift.inference.zero_shot import NAMED_TEMPLATE_SETS, check_labels, resolve_templates

DEFAULT_MODEL = "zero-shot"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "zero-shot", help="score audio files against labels you type (CLAP)",
        description="Score audio files (or every audio file under the folders given) against candidate labels "
                    "with a CLAP model, and print the top-k labels of each. Any sampling rate; clips longer "
                    "than 10 s are scored from fixed 10 s windows (deterministic). A file that cannot be read "
                    "is reported and the others go on; the exit code is 1 if any file failed.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders (searched recursively)")
    labels = parser.add_mutually_exclusive_group(required=True)
    labels.add_argument("--labels", "-l", help='comma-separated labels, e.g. "dog,vacuum cleaner,rain"')
    labels.add_argument("--labels-file", metavar="FILE",
                        help="a text file with one label per line (blank lines and lines starting with # skipped)")
    parser.add_argument("--template", "-t", action="append", default=None, metavar="T",
                        help="prompt template with {} for the label (default: 'This is a sound of {}.'); repeat "
                             "it for an ensemble (prompt embeddings averaged), or name a set: "
                             + ", ".join(NAMED_TEMPLATE_SETS))
    parser.add_argument("--text-cache", metavar="DIR", default=None,
                        help="keep label embeddings in this folder across runs (default: $AUDIOSIFT_TEXT_CACHE, "
                             "else memory only)")
    add_model_arguments(parser, default_model=DEFAULT_MODEL)
    add_output_arguments(parser, formats=(*FORMATS, *EVENT_FORMATS))
    add_window_arguments(parser)
    parser.add_argument("--sampling-rate", type=int, default=None, help=argparse.SUPPRESS)
    parser.set_defaults(run=run)


def read_labels(args) -> list[str]:
    """The labels of ``--labels`` or ``--labels-file``, checked (a UsageError that names the flag if bad)."""
    if args.labels_file:
        try:
            with open(args.labels_file, encoding="utf-8") as handle:
                lines = [line.strip() for line in handle]
        except OSError as error:
            raise UsageError(f"cannot read --labels-file {args.labels_file}: {error.strerror or error}") from error
        raw = [line for line in lines if line and not line.startswith("#")]
    else:
        raw = args.labels.split(",")
    try:
        return check_labels([label.strip() for label in raw if label.strip()])
    except ValueError as error:
        flag = "--labels-file" if args.labels_file else "--labels"
        raise UsageError(cli_wording(error).replace("--labels", flag)) from error


def templates_from_args(args):
    templates = args.template
    if templates and len(templates) == 1:
        templates = templates[0]  # a single value may name a template set
    try:
        return resolve_templates(templates)
    except ValueError as error:
        raise UsageError(cli_wording(error)) from error


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
    if args.speech_only or args.segments:  # speech-gated scoring takes a fixed-label model's scores
        raise UsageError(f"{'--speech-only' if args.speech_only else '--segments'} does not apply to "
                         f"`audiosift zero-shot`: it needs a speech model (audiosift classify --model language "
                         f"--speech-only, or --model speech --segments); use --window/--hop to score windows")
    files = find_inputs(args)
    if wants_windows(args):  # long recordings: windows with timestamps and merged events
        return run_windowed(args, files, load=lambda: load_zero_shot_from_args(args, "zero-shot"),
                            candidate_labels=labels, hypothesis_template=templates)
    check_output_file(args.output, files)
    check_device(args)
    model = load_zero_shot_from_args(args, "zero-shot")
    return write_results(model, args, files, candidate_labels=labels, hypothesis_template=templates)
