"""``audiosift export``: a model -> an ONNX folder for onnxruntime (see docs/deployment.md)."""

from __future__ import annotations

import sys

from audiosift.cli.common import add_required_model_argument, cli_wording, positive_int, required_model
from audiosift.errors import UsageError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="export a model to ONNX (optionally int8) for CPU deployment",
        description="Export an audio-classification model (AST, Wav2Vec2/HuBERT/WavLM, Whisper) or CLAP (audio "
                    "and text towers) to ONNX with dynamic batch and time axes, beside its feature extractor, "
                    "labels and a manifest (source, fingerprint, options, fidelity measured against the "
                    "source). `audiosift classify --model DIR` then runs it on onnxruntime.")
    add_required_model_argument(parser, "preset name, hub id or local folder")
    parser.add_argument("--output", "-o", required=True, help="folder to write (must be new or empty)")
    parser.add_argument("--int8", action="store_true",
                        help="int8 weights (onnxruntime dynamic quantisation); its fidelity against float32 "
                             "is printed and stored. Check it on your own data: docs/deployment.md")
    parser.add_argument("--revision", default=None, help="hub revision (branch, tag or commit) of MODEL")
    parser.add_argument("--check-clips", type=positive_int, default=4,
                        help="synthetic clips the fidelity is measured on (default: 4)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing export in --output")
    parser.set_defaults(run=run)


def run(args) -> int:
    args.model = required_model(args)
    try:
        from audiosift.models.onnx_export import export_model
    except ImportError as error:
        raise UsageError(f"export needs the onnx extra ({error.name} is missing): "
                         f"pip install 'audiosift[onnx]'") from error

    def report(line: str) -> None:
        print(f"audiosift export: {line}", file=sys.stderr)

    try:
        manifest = export_model(args.model, args.output, int8=args.int8, revision=args.revision,
                                check_clips=args.check_clips, overwrite=args.overwrite, report=report)
    except ValueError as error:
        raise UsageError(cli_wording(error)) from error
    files = ", ".join(manifest["files"].values())
    print(f"exported {manifest['source']['model_id']} ({manifest['precision']}) to {args.output}: {files}")
    return 0
