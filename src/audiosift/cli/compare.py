"""``audiosift compare RUN_A RUN_B``: two evaluate output folders, example by example."""

from __future__ import annotations

import json

from audiosift.cli.common import positive_int


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "compare", help="compare two evaluate runs (e.g. float32 vs int8): agreement, accuracy and F1 deltas",
        description="Compare two `audiosift evaluate` output folders on the examples both scored: top-1 "
                    "agreement, accuracy and macro-F1 of each and B minus A, and the examples whose top-1 "
                    "label flipped (those one run gets right and the other wrong first).")
    parser.add_argument("run_a", metavar="RUN_A", help="evaluate --output folder of the reference (e.g. float32)")
    parser.add_argument("run_b", metavar="RUN_B", help="evaluate --output folder to compare with it (e.g. int8)")
    parser.add_argument("--show", type=positive_int, default=20, help="flipped examples to list (default: 20)")
    parser.add_argument("--format", "-f", default="table", choices=["table", "json"], help="output format")
    parser.set_defaults(run=run)


def run(args) -> int:
    from audiosift.evaluation.compare import compare_runs, format_comparison

    result = compare_runs(args.run_a, args.run_b, show=args.show)
    print(json.dumps(result, indent=2) if args.format == "json" else format_comparison(result))
    return 0
