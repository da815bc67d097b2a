"""``audiosift models``: the presets."""

from __future__ import annotations

import json


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "models", help="list the model presets",
        description="List the presets: name, hub id, task, sampling rate, training data, licence, and whether "
                    "each works offline (OFFLINE: builtin = ships in an installed package; not installed = ships in a "
                    "package missing here, with the extra to install; cached = in the local Hugging Face "
                    "cache; download = needs the hub once). Only the local disk is looked at, never the network.")
    parser.add_argument("--format", "-f", default="table", choices=["table", "json"], help="output format")
    parser.set_defaults(run=run)


def run(args) -> int:
    from audiosift.api import list_models

    models = list_models()
    if args.format == "json":
        print(json.dumps(models, indent=2))
        return 0
    columns = ["name", "model_id", "offline", "task", "sampling_rate", "trained_on", "licence"]
    widths = {c: max(len(c), *(len(str(m[c])) for m in models)) for c in columns[:-1]}
    print("  ".join(c.upper().ljust(widths.get(c, 0)) for c in columns))
    for model in models:
        print("  ".join(str(model.get(c, "")).ljust(widths.get(c, 0)) for c in columns).rstrip())
    return 0
