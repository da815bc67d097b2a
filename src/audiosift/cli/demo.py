"""``audiosift demo``: the README's main job — classify the example clips with a real model.

It uses the ``keywords`` preset (the seed's AST keyword spotter) when the hub is reachable or the
model is cached; otherwise it says why in one line and runs the offline ``speech`` preset, so a
fresh machine without a hub still shows real output.
"""

from __future__ import annotations

import sys
from pathlib import Path

from audiosift.cli.common import add_output_arguments
from audiosift.errors import ModelError

DEFAULT_CLIPS = Path("examples") / "clips"


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="classify the example clips (keywords model, or the offline speech model)",
        description="Classify the example clips with the `keywords` preset, falling back to the offline "
                    "`speech` preset (with a one-line reason) when the keywords model cannot be had.")
    parser.add_argument("paths", nargs="*", metavar="PATH", default=[str(DEFAULT_CLIPS)],
                        help=f"clips or folders (default: {DEFAULT_CLIPS})")
    parser.add_argument("--model", "-m", default="keywords", help="model to try first (default: keywords)")
    add_output_arguments(parser)
    parser.set_defaults(run=run)


def run(args) -> int:
    import audiosift
    from audiosift.cli.classify import write_results
    from audiosift.cli.common import check_output_file, find_inputs

    files = find_inputs(args)
    check_output_file(args.output, files)
    try:
        classifier = audiosift.load(args.model)
    except ModelError as error:
        print(f"audiosift demo: {args.model} model unavailable ({_first_sentence(error)}); "
              f"using the offline 'speech' model instead", file=sys.stderr)
        classifier = audiosift.load("speech")
    print(f"audiosift demo: model {classifier.model_id} ({len(classifier.labels)} labels)", file=sys.stderr)
    return write_results(classifier, args, files)


def _first_sentence(error: Exception) -> str:
    return str(error).split(". ")[0]
