"""Arguments and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

from audiosift.audio.files import find_audio_files
from audiosift.cli.output import FORMATS
from audiosift.errors import OutputError, UsageError
from audiosift.inference.options import BACKENDS, DEVICES, DTYPES

# Above this many inputs a progress bar is shown on stderr (when stderr is a terminal or --progress).
PROGRESS_MIN_ITEMS = 10


def add_model_arguments(parser: argparse.ArgumentParser, default_model: str = "keywords") -> None:
    parser.add_argument("--model", "-m", default=default_model,
                        help=f"preset name, hub id or local folder (default: {default_model}; see `audiosift models`)")
    parser.add_argument("--device", default="auto", choices=DEVICES,
                        help="where the model runs; auto picks cuda, then mps, then cpu (default: auto)")
    parser.add_argument("--dtype", default="float32", choices=DTYPES, help="model precision (default: float32)")
    parser.add_argument("--batch-size", "-b", type=positive_int, default=8, help="clips per forward pass (default: 8)")
    parser.add_argument("--revision", default=None, help="hub revision (branch, tag or commit) of --model")
    add_backend_argument(parser)
    parser.add_argument("--verbose", "-v", action="store_true",
                        help="show the model libraries' loading messages, progress bars and warnings (default: quiet)")


def add_required_model_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """The model a command cannot do without, as its first argument (``export MODEL``) or spelt as
    every other command spells it (``--model/-m``); :func:`required_model` reads either."""
    parser.add_argument("model", nargs="?", default=None, metavar="MODEL", help=help)
    parser.add_argument("--model", "-m", dest="model_option", default=None, metavar="MODEL",
                        help="the same as MODEL")


def required_model(args) -> str:
    given = [value for value in (args.model, args.model_option) if value]
    if not given:
        raise UsageError("no model given: name it as MODEL or with --model/-m")
    if len(set(given)) > 1:
        raise UsageError(f"two models given ({given[0]!r} as MODEL, {given[1]!r} with --model): give one")
    return given[0]


def add_backend_argument(parser: argparse.ArgumentParser) -> None:
    """``--backend``: the one definition, for the commands that take ``--model`` and for ``serve``."""
    parser.add_argument("--backend", default="auto", choices=BACKENDS,
                        help="runtime: onnx exports the model once (cached) and runs it on onnxruntime; "
                             "auto runs an exported folder on onnxruntime, others on torch (default: auto)")


def add_output_arguments(parser: argparse.ArgumentParser, formats: Iterable[str] = FORMATS) -> None:
    parser.add_argument("--top-k", "-k", type=top_k_value, default=5,
                        help="labels to report per clip; 'all' for every label (default: 5)")
    parser.add_argument("--format", "-f", default="table", choices=list(formats), help="output format (default: table)")
    parser.add_argument("--output", "-o", default=None, help="write results to this file instead of stdout")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar on stderr (default: when stderr is a terminal and there are many files)")


# What --labels means, by command: the one vocabulary (see add_label_arguments) with a line each.
LABEL_ROLES = {
    "keep": "labels to report, a subset of the model's (default: all of them)",
    "score": "the labels to score (required)",
    "either": "labels that may fire: a subset of a fixed model's (default: all), or a zero-shot model's "
              "candidate labels (required)",
}
TEMPLATE_HELP = ("zero-shot prompt template with {} for the label (default: 'This is a sound of {}.'); repeat "
                 "it for an ensemble (prompt embeddings averaged), or name a set: ")


def add_label_arguments(parser: argparse.ArgumentParser, role: str | None, templates: bool = False) -> None:
    """``--labels/-l`` (comma-separated) or ``--labels-file FILE``, and with ``templates``
    ``--template/-t``: the same spelling and meaning in every subcommand. ``role``: a key of
    :data:`LABEL_ROLES` (None: no labels, e.g. evaluate takes the dataset's)."""
    if role is not None:
        group = parser.add_mutually_exclusive_group(required=role == "score")
        group.add_argument("--labels", "-l", metavar="LABELS",
                           help=f"{LABEL_ROLES[role]}; comma-separated, e.g. \"dog,vacuum cleaner,rain\"")
        group.add_argument("--labels-file", metavar="FILE",
                           help="the labels in a text file, one per line (blank lines and lines starting with "
                                "# skipped)")
    if templates:
        from audiosift.inference.zero_shot import NAMED_TEMPLATE_SETS

        parser.add_argument("--template", "-t", action="append", default=None, metavar="T",
                            help=TEMPLATE_HELP + ", ".join(NAMED_TEMPLATE_SETS))


def read_labels(args) -> list[str] | None:
    """The labels of ``--labels`` or ``--labels-file`` (None if neither), checked: a UsageError
    that names the flag if they are bad."""
    labels_file = getattr(args, "labels_file", None)
    if labels_file:
        try:
            with open(labels_file, encoding="utf-8") as handle:
                lines = [line.strip() for line in handle]
        except OSError as error:
            raise UsageError(f"cannot read --labels-file {labels_file}: {error.strerror or error}") from error
        raw = [line for line in lines if line and not line.startswith("#")]  # a line is a label, commas and all
    elif getattr(args, "labels", None):
        # listen's older spelling `--labels yes no` leaves the words after the first in more_labels
        words = [args.labels, *(getattr(args, "more_labels", None) or [])]
        raw = [label for word in words for label in word.split(",")]
    else:
        return None
    from audiosift.inference.classifier import check_labels

    try:
        return check_labels([label.strip() for label in raw if label.strip()])
    except ValueError as error:
        flag = "--labels-file" if labels_file else "--labels"
        raise UsageError(cli_wording(error).replace("--labels", flag)) from error


def templates_from_args(args):
    """The checked templates of ``--template`` (a single value may name a set); None if not given."""
    templates = getattr(args, "template", None)
    if not templates:
        return None
    from audiosift.inference.zero_shot import resolve_templates

    try:
        return resolve_templates(templates[0] if len(templates) == 1 else templates)
    except ValueError as error:
        raise UsageError(cli_wording(error)) from error


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def non_negative_number(text: str, unit: str = "a number") -> float:
    """``text`` as a finite number >= 0 (nan and inf are refused here: they would fail much later)."""
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected {unit} >= 0, got {text}")
    return value


def top_k_value(text: str) -> int | None:
    return None if text.lower() in {"all", "none"} else positive_int(text)


# Library parameter names -> the CLI flags a user types (messages from the library name the former).
CLI_WORDS = [(r"pass candidate_labels=\[\.\.\.\]", "give --labels ..."),
             (r"candidate_labels=\[\.\.\.\]", "--labels ..."), (r"\bcandidate_labels\b", "--labels"),
             (r"\bhypothesis_template\b", "--template"), (r"\btop_k\b", "--top-k"),
             (r"\bbatch_size\b", "--batch-size"), (r"\bvad_threshold\b", "--vad-threshold"),
             (r"\bmin_speech_s\b", "--min-speech"), (r"\brefractory_s\b", "--refractory"),
             (r"\bwindow_s\b", "--window"), (r"\bhop_s\b", "--hop"),
             (r"^labels (.+?) are not among", r"--labels \1: not among")]


def cli_wording(message: object) -> str:
    text = str(message)
    for pattern, flag in CLI_WORDS:
        text = re.sub(pattern, flag, text)
    return text


def warn(message: str) -> None:
    print(f"audiosift: warning: {message}", file=sys.stderr)


def warn_single_label(labels: list[str] | None) -> None:
    """Zero-shot scores are a softmax over the labels given: one label always scores 1.0."""
    if labels is not None and len(labels) == 1:
        warn(f"only one label ({labels[0]!r}): zero-shot scores are shared out among the labels given, so it "
             f"always scores 1.0; add the alternatives, e.g. --labels \"{labels[0]},something else\"")


def find_inputs(args) -> list[Path]:
    """The audio files under ``args.paths``; empty or unreadable folders get a warning each, and no
    files at all is a usage error (exit 2)."""
    files = find_audio_files(args.paths, report=warn)
    if not files:
        raise UsageError(f"no audio files found under {', '.join(args.paths)}: give audio files, or folders "
                         f"that hold some")
    return files


def runtime_from_args(args):
    """The command's :class:`~audiosift.inference.options.RuntimeOptions` (--device, --dtype,
    --batch-size, --revision, --backend), checked where every command checks them; flags named."""
    from audiosift.inference.options import RuntimeOptions

    try:
        return RuntimeOptions(device=getattr(args, "device", "auto"), dtype=getattr(args, "dtype", "float32"),
                              batch_size=getattr(args, "batch_size", None) or 8,
                              revision=getattr(args, "revision", None), backend=getattr(args, "backend", "auto"))
    except ValueError as error:
        raise UsageError(cli_wording(error)) from error


def check_device(args) -> None:
    """Refuse --device cuda (or mps) where torch cannot use it, before minutes go into loading."""
    runtime = runtime_from_args(args)
    if runtime.device == "auto":
        return
    try:
        runtime.check_device()
    except ValueError as error:
        raise UsageError(f"--device {args.device}: {cli_wording(error)}; use --device auto or cpu") from error


def check_output_file(output: str | None, inputs: Iterable[Path], flag: str = "--output") -> None:
    """Refuse an output file that cannot or must not be written: a folder, in a missing or read-only
    folder, or one of the inputs (it would be overwritten)."""
    if output is None or output == "-":
        return
    path = Path(output)
    if path.is_dir():
        raise OutputError(f"{flag} {output} is a folder; give a file name, e.g. {path / 'results.jsonl'}")
    if not path.parent.is_dir():
        raise OutputError(f"the folder of {flag} {output} does not exist: {path.parent} (create it first)")
    if not os.access(path.parent, os.W_OK):
        raise OutputError(f"cannot write {flag} {output}: the folder {path.parent} is not writable")
    refuse_input_as_output(path, inputs, flag)


def refuse_input_as_output(path: Path, inputs: Iterable[Path], flag: str = "--output") -> None:
    """An OutputError if ``path`` is (a link to, or the same file as) one of ``inputs``."""
    target = os.path.realpath(path)
    identity = _file_identity(path)
    for source in inputs:
        if os.path.realpath(source) == target or (identity is not None and _file_identity(source) == identity):
            raise OutputError(f"{flag} {path} is the input {source}: writing there would overwrite it; "
                              f"pick another file name")


def _file_identity(path) -> tuple[int, int] | None:
    try:
        status = os.stat(path)
    except OSError:
        return None
    return status.st_dev, status.st_ino


def load_from_args(args):
    import audiosift

    try:
        return audiosift.load(args.model, options=runtime_from_args(args))
    except ValueError as error:  # an option the library refused (UsageError included): name the flag
        raise UsageError(cli_wording(error)) from error


def model_for_backend(args) -> str:
    """``--model``, or with ``--backend onnx`` (or ``--dtype int8``) its cached ONNX export's folder: for
    commands that pass the model on by name (evaluate, and through it Ray actors)."""
    options = runtime_from_args(args)
    if not options.wants_onnx:
        return args.model
    from audiosift.models.loading import locate, resolve
    from audiosift.models.onnx_export import cached_export

    source = resolve(args.model)
    folder, kind = locate(source, options)
    return args.model if kind.name == "onnx" else str(cached_export(source, folder, kind, options))


def with_progress(items: Iterator, total: int, enabled: bool | None, unit: str = "file") -> Iterator:
    """Wrap ``items`` in a tqdm bar on stderr when asked, or by default for many items on a terminal."""
    if enabled is None:
        enabled = total >= PROGRESS_MIN_ITEMS and sys.stderr.isatty()
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, total=total, unit=unit, file=sys.stderr, dynamic_ncols=True)


@contextlib.contextmanager
def verbosity(verbose: bool) -> Iterator[None]:
    """--verbose: the ``audiosift`` logger at INFO while the command runs, which is what lets
    transformers speak while audiosift loads a model (models/quiet.py); restored after, for
    in-process callers."""
    import logging

    logger = logging.getLogger("audiosift")
    if not verbose:
        yield
        return
    level, handler = logger.level, logging.StreamHandler(sys.stderr)
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.setLevel(level)
        logger.removeHandler(handler)


def quiet_libraries() -> None:
    """Keep transformers' and the hub's own progress bars and advice off our stderr."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
