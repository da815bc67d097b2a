"""Arguments and helpers shared by the subcommands."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Iterator

from audiosift.cli.output import FORMATS
from audiosift.inference.options import DEVICES, DTYPES

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


def add_output_arguments(parser: argparse.ArgumentParser, formats: Iterable[str] = FORMATS) -> None:
    parser.add_argument("--top-k", "-k", type=top_k_value, default=5,
                        help="labels to report per clip; 'all' for every label (default: 5)")
    parser.add_argument("--format", "-f", default="table", choices=list(formats), help="output format (default: table)")
    parser.add_argument("--output", "-o", default=None, help="write results to this file instead of stdout")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bar on stderr (default: when stderr is a terminal and there are many files)")


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def top_k_value(text: str) -> int | None:
    return None if text.lower() in {"all", "none"} else positive_int(text)


def load_from_args(args):
    import audiosift

    return audiosift.load(args.model, device=args.device, dtype=args.dtype, batch_size=args.batch_size,
                          revision=args.revision)


def with_progress(items: Iterator, total: int, enabled: bool | None, unit: str = "file") -> Iterator:
    """Wrap ``items`` in a tqdm bar on stderr when asked, or by default for many items on a terminal."""
    if enabled is None:
        enabled = total >= PROGRESS_MIN_ITEMS and sys.stderr.isatty()
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, total=total, unit=unit, file=sys.stderr, dynamic_ncols=True)


def quiet_libraries() -> None:
    """Keep transformers' and the hub's own progress bars and advice off our stderr."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
