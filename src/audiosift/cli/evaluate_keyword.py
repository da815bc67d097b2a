"""``audiosift evaluate-keyword MODEL``: recall, false accepts per hour and a DET plot of any
detector (a trained keyword folder, or the wake-word presets) on recordings with known times.

Input formats and matching rules: :mod:`audiosift.keywords.recordings` and docs/wake-words.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

from audiosift.cli.common import add_required_model_argument, cli_wording, non_negative_number, required_model
from audiosift.cli.windowed import non_negative_seconds, probability
from audiosift.errors import OutputError, UsageError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate-keyword", help="measure a wake-word detector: recall, false accepts per hour, DET plot",
        description="Run a detector over recordings with known keyword times and report recall and false accepts "
                    "per hour at its threshold, the best recall at --target-fa-per-hour, and the DET curve "
                    "(miss rate against false accepts per hour over thresholds). An event finds a keyword when "
                    "it fires between the keyword's start and its end plus --tolerance; any other event is a "
                    "false accept; hours count all audio scored.")
    add_required_model_argument(parser, "a folder from train-keyword, or a detector preset (wake-word, wake-word-micro)")
    parser.add_argument("--recordings", nargs="+", default=(), metavar="PATH",
                        help="long recordings (files or folders) whose keyword times are in --times")
    parser.add_argument("--times", default=None, metavar="CSV",
                        help="CSV with the header file,start,end: one row per keyword (seconds)")
    parser.add_argument("--positives", nargs="+", default=(), metavar="PATH",
                        help="clips (files or folders) that each hold the keyword once")
    parser.add_argument("--negatives", nargs="+", default=(), metavar="PATH",
                        help="recordings (files or folders) without the keyword")
    parser.add_argument("--label", default=None, help="the model's label to measure (needed when it has several)")
    parser.add_argument("--threshold", "-t", type=probability, default=None,
                        help="operating threshold (default: the model's own)")
    parser.add_argument("--refractory", type=non_negative_seconds, default=1.0, metavar="SECONDS",
                        help="quiet time after an event, as in listen (default: 1)")
    parser.add_argument("--tolerance", type=non_negative_seconds, default=1.0, metavar="SECONDS",
                        help="how long after a keyword's end an event still finds it (default: 1)")
    parser.add_argument("--target-fa-per-hour", type=non_negative_number, default=1.0, metavar="RATE",
                        help="report the best recall at or under this many false accepts per hour (default: 1)")
    parser.add_argument("--output", "-o", default=None, metavar="DIR",
                        help="folder for report.json and det.png (default: print the summary only)")
    parser.set_defaults(run=run)


def run(args) -> int:
    args.model = required_model(args)
    from audiosift.api import load
    from audiosift.inference.detector import is_detector
    from audiosift.keywords import evaluate
    from audiosift.keywords.recordings import evaluate_items, gather

    output = _output_folder(args.output)
    items = gather(args.recordings, args.times, args.positives, args.negatives)
    model = load(args.model)
    if not is_detector(model):
        raise UsageError(f"{args.model!r} is not a detector: give a train-keyword folder or a wake-word preset")

    def report(message: str) -> None:
        print(f"audiosift evaluate-keyword: {cli_wording(message)}", file=sys.stderr, flush=True)

    result = evaluate_items(model, items, args.label, args.threshold, args.refractory, args.tolerance,
                            args.target_fa_per_hour, report).report
    at = result["at_threshold"]
    best = result[f"best_recall_at_{args.target_fa_per_hour:g}_fa_per_hour"]
    recall = "n/a (no keyword occurrences)" if at["recall"] is None else f"{at['recall']:.1%} ({at['found']}/{at['occurrences']})"
    print(f"{result['label']} at threshold {at['threshold']:.7g}: recall {recall}, {at['false_accepts']} false "
          f"accept(s) in {at['hours']:.3f} h = {at['false_accepts_per_hour']:.2f}/h")
    if best["threshold"] is not None and best["recall"] is not None:  # no positives: recall is undefined
        print(f"best recall at <= {args.target_fa_per_hour:g} false accepts/h: {best['recall']:.1%} "
              f"(threshold {best['threshold']:.7g})")
    if output is not None:
        evaluate.write_report(result, output / "report.json")
        evaluate.plot_det(result["curve"], output / "det.png", f"{result['label']} ({Path(str(args.model)).name})",
                          at["threshold"])
        print(f"wrote {output / 'report.json'} and {output / 'det.png'}")
    return 1 if result["errors"] else 0


def _output_folder(output: str | None) -> Path | None:
    if output is None:
        return None
    folder = Path(output)
    if folder.exists() and not folder.is_dir():
        raise OutputError(f"--output {output} is a file; give a folder for report.json and det.png")
    if not folder.parent.is_dir():
        raise OutputError(f"the folder above --output {output} does not exist: {folder.parent}")
    folder.mkdir(exist_ok=True)
    return folder
