"""``audiosift evaluate``: run a model over a whole dataset and measure it (see docs/evaluation.md)."""

from __future__ import annotations

import argparse
from pathlib import Path

from audiosift.cli.common import (add_label_arguments, add_model_arguments, check_device, cli_wording,
                                  model_for_backend, positive_int)
from audiosift.errors import OutputError, UsageError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate", help="measure a model on a labelled dataset (accuracy, F1, confusion matrix)",
        description="Classify every example of a dataset and write predictions.jsonl, metrics.json, "
                    "confusion.csv/.png and report.md to --output. Labels are compared by name (exact, then "
                    "ignoring case and _/-/spaces, then --label-map). Run again with the same arguments and "
                    "--output to resume an interrupted run.")
    add_model_arguments(parser)
    source = parser.add_argument_group("dataset")
    source.add_argument("--dataset", "-d", required=True,
                        help="hub id (PolyAI/minds14), a folder with one sub-folder per class, a CSV/JSONL "
                             "manifest (path,label), or parquet/arrow files")
    source.add_argument("--config", default=None, help="hub config (subset), e.g. en-AU")
    source.add_argument("--split", default=None, help="split, e.g. test (default: the only split there is)")
    source.add_argument("--label-column", default=None,
                        help="column holding the labels (default: 'label', or the only ClassLabel column)")
    source.add_argument("--audio-column", default=None,
                        help="column holding the audio (default: the Audio column; manifests: path)")
    source.add_argument("--streaming", action="store_true", help="stream the hub dataset instead of downloading it")
    source.add_argument("--where", action="append", type=where_condition, default=None,
                        metavar="COLUMN=VALUE[,VALUE...]",
                        help="evaluate only rows whose COLUMN holds VALUE (any of several, comma-separated); "
                             "repeat for more columns, all must hold; before --shuffle/--limit. E.g. fold=1, "
                             "lang_id=en-AU (ClassLabel: name or id). Class folders: only 'label'")
    source.add_argument("--limit", type=positive_int, default=None, help="evaluate only the first N examples")
    source.add_argument("--shuffle", action="store_true", help="shuffle before --limit (seeded)")
    source.add_argument("--seed", type=int, default=0, help="shuffle seed (default: 0)")
    source.add_argument("--dataset-revision", default=None, help="hub revision of the dataset")
    labels = parser.add_argument_group("labels")
    labels.add_argument("--label-map", default=None, metavar="FILE",
                        help="JSON {\"dataset label\": \"model label\"} or CSV rows dataset_label,model_label "
                             "(null/empty leaves a label out); for zero-shot models: the text of each label")
    labels.add_argument("--allow-unmapped", action="store_true",
                        help="count examples whose label matches no model label as 'unmapped' instead of failing")
    add_label_arguments(labels, None, templates=True)  # the labels are the dataset's
    run = parser.add_argument_group("run")
    run.add_argument("--output", "-o", required=True, help="folder for the outputs (resumes if it holds this run)")
    run.add_argument("--overwrite", action="store_true", help="discard an earlier run in --output and start afresh")
    run.add_argument("--engine", choices=["local", "ray"], default="local",
                     help="local: this process (default); ray: Ray Data actors (pip install 'audiosift[ray]')")
    run.add_argument("--ray-address", default=None, help="existing Ray cluster (e.g. auto, ray://host:10001); "
                     "default: start a local Ray")
    run.add_argument("--ray-actors", type=positive_int, default=1, help="model replicas on Ray (default: 1)")
    run.add_argument("--ray-gpus-per-actor", type=float, default=0.0, help="GPUs per Ray actor (default: 0)")
    run.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                     help="progress bar on stderr (default: when stderr is a terminal)")
    parser.set_defaults(run=run_command)


def run_command(args) -> int:
    from audiosift.evaluation import evaluate

    if args.engine == "local" and (args.ray_address or args.ray_actors != 1 or args.ray_gpus_per_actor):
        raise UsageError("--ray-address/--ray-actors/--ray-gpus-per-actor need --engine ray")
    if Path(args.output).exists() and not Path(args.output).is_dir():
        raise OutputError(f"--output {args.output} is a file; evaluate writes a folder of results there: "
                          f"give a folder (it is created if missing)")
    if args.engine == "local":  # Ray actors may run where the GPUs are, not here
        check_device(args)
    from audiosift.models.loading import resolve

    resolve(args.model)  # a mistyped --model fails now, not after the dataset is opened
    try:
        result = evaluate(
            model_for_backend(args), args.dataset, args.output, config=args.config, split=args.split,
            label_column=args.label_column, audio_column=args.audio_column, streaming=args.streaming,
            where=args.where, limit=args.limit, shuffle=args.shuffle, seed=args.seed,
            dataset_revision=args.dataset_revision,
            label_map=args.label_map, allow_unmapped=args.allow_unmapped,
            templates=tuple(args.template) if args.template else None, batch_size=args.batch_size,
            device=args.device, dtype=args.dtype, revision=args.revision, engine=args.engine,
            ray_address=args.ray_address, ray_actors=args.ray_actors, ray_gpus_per_actor=args.ray_gpus_per_actor,
            overwrite=args.overwrite, progress=args.progress, command=command_line(args))
    except ValueError as error:  # the library's check of an option, in the CLI's words
        raise UsageError(cli_wording(error)) from error
    print(summary(result.metrics, result.output))
    return 0


def command_line(args) -> str:
    """The command as typed (main() keeps the arguments), for the report's provenance."""
    import shlex

    return shlex.join(["audiosift", *(getattr(args, "argv", None) or ["evaluate", "..."])])


def where_condition(text: str):
    """argparse type of --where: ``fold=1,2`` -> ``("fold", ("1", "2"))``."""
    from audiosift.datasets.filters import parse_condition

    try:
        return parse_condition(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).removeprefix("where: ")) from error


def summary(metrics: dict, folder) -> str:
    def share(value):
        return "n/a" if value is None else f"{value:.2%}"

    rate = metrics["throughput_clips_per_s"]
    subset = f" where {' '.join(metrics['where'])}" if metrics.get("where") else ""
    lines = [
        f"{metrics['model']} on {metrics['dataset']}{subset}: accuracy {share(metrics['accuracy'])}, "
        f"balanced {share(metrics['balanced_accuracy'])}, "
        + (f"top-5 {share(metrics['top5_accuracy'])}, " if metrics["top5_accuracy"] is not None else "")
        + f"macro-F1 {'n/a' if metrics['macro_f1'] is None else format(metrics['macro_f1'], '.4f')}",
        f"examples {metrics['n']}: scored {metrics['scored']}, failures {metrics['failures']}, "
        f"unmapped {metrics['unmapped']}; this run classified {metrics['processed_this_run']} "
        f"({'n/a' if rate is None else format(rate, '.2f')} clips/s), reused {metrics['reused_from_earlier_runs']}",
        f"wrote {folder}/: predictions.jsonl metrics.json confusion.csv confusion.png report.md",
    ]
    if metrics["failures"]:
        lines.append(f"{metrics['failures']} clip(s) failed: see report.md / predictions.jsonl ('error')")
    return "\n".join(lines)

